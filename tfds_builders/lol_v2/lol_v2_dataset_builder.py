"""LOLv2: real-captured and synthetic low/normal-light pairs (Yang et al., TIP 2021).

Origin: https://github.com/flyywh/SGM-Low-Light (LOL-v2 release). Real: 789
pairs captured by varying exposure time and ISO; Synthetic: 1000 pairs made
from RAW images by matching the illumination distribution of real low light.

Citation:
  Wenhan Yang, Wenjing Wang, Haofeng Huang, Shiqi Wang, Jiaying Liu. Sparse
  Gradient Regularized Deep Retinex Network for Robust Low-Light Image
  Enhancement. IEEE TIP 30, 2021.

Expected manual_dir layout (counts of the official release):
  config "real":
    <manual_dir>/Real_captured/Train/Low/lowNNNNN.png        689 -> "train"
    <manual_dir>/Real_captured/Train/Normal/normalNNNNN.png  689
    <manual_dir>/Real_captured/Test/Low/, Test/Normal/       100 -> "test"
  config "synthetic":
    <manual_dir>/Synthetic/Train/Low/*.png, Train/Normal/*.png  900 -> "train"
    <manual_dir>/Synthetic/Test/Low/*.png,  Test/Normal/*.png   100 -> "test"
  <manual_dir>/captions.jsonl  optional {"name": <low or normal stem>, "caption": ...}
Real pairs are matched by number (lowNNNNN <-> normalNNNNN); synthetic ones by stem.
"""

import re

from nalsuper_jax.data import builder as paired

INSTRUCTIONS = """\
LOLv2 (Yang et al., "Sparse Gradient Regularized Deep Retinex Network for Robust
Low-Light Image Enhancement", IEEE TIP 2021): download LOL-v2 from
https://github.com/flyywh/SGM-Low-Light and unzip it into manual_dir so that it holds:
  Real_captured/{Train,Test}/{Low,Normal}/   (lowNNNNN.png <-> normalNNNNN.png; 689 / 100 pairs)
  Synthetic/{Train,Test}/{Low,Normal}/       (same file names on both sides; 900 / 100 pairs)
  captions.jsonl                             (optional: {"name": <stem>, "caption": ...} per line)"""


def _number(stem: str) -> str:
  """lowNNNNN / normalNNNNN -> NNNNN (the real subset's pairing key)."""
  return re.sub(r"^(low|normal)", "", stem, flags=re.IGNORECASE)


class LolV2Config(paired.PairedConfig):

  def __init__(self, *, subset: str, **kwargs):
    super().__init__(**kwargs)
    self.subset = subset


class Builder(paired.PairedImageBuilder):
  """LOLv2 real (689/100) and synthetic (900/100) pairs."""
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/flyywh/SGM-Low-Light"
  CITATION = """@article{Yang2021SGM, title={Sparse Gradient Regularized Deep Retinex
  Network for Robust Low-Light Image Enhancement}, author={Wenhan Yang and Wenjing Wang
  and Haofeng Huang and Shiqi Wang and Jiaying Liu}, journal={IEEE Transactions on
  Image Processing}, volume={30}, pages={2072--2086}, year={2021}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = INSTRUCTIONS
  BUILDER_CONFIGS = [
      LolV2Config(name="real", subset="Real_captured", description="Real-captured pairs."),
      LolV2Config(name="synthetic", subset="Synthetic", description="Synthetic pairs."),
      LolV2Config(name="real_skip_bad", subset="Real_captured", skip_bad=True,
                  description="Real pairs; skip and count unusable ones."),
      LolV2Config(name="synthetic_skip_bad", subset="Synthetic", skip_bad=True,
                  description="Synthetic pairs; skip and count unusable ones."),
  ]

  def find_pairs(self, manual_dir):
    root = self.builder_config.subset
    paired.require_dirs(manual_dir, [f"{root}/{s}/{k}" for s in ("Train", "Test")
                                     for k in ("Low", "Normal")], INSTRUCTIONS)
    key = _number if root == "Real_captured" else (lambda s: s)
    return {split: self.pair(manual_dir / root / folder / "Low",
                             manual_dir / root / folder / "Normal",
                             low_key=key, high_key=key)
            for split, folder in (("train", "Train"), ("test", "Test"))}
