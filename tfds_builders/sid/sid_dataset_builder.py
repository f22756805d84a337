"""SID-sRGB: the Sony subset of See-in-the-Dark, as processed by SNR-Aware.

Origin: Chen et al.'s SID Sony RAW captures (short exposures 1/10-1/30 s, long
10-30 s references), converted to sRGB by the SNR-Aware authors (Xu et al.,
CVPR 2022) and used by Retinexformer (Cai et al., ICCV 2023). Download the
processed files linked from https://github.com/dvlab-research/SNR-Aware-Low-Light-Enhance
(`short_sid2`, `long_sid2`).

Citations:
  Chen Chen, Qifeng Chen, Jia Xu, Vladlen Koltun. Learning to See in the Dark. CVPR 2018.
  Xiaogang Xu, Ruixing Wang, Chi-Wing Fu, Jiaya Jia. SNR-Aware Low-Light Image
  Enhancement. CVPR 2022.

Expected manual_dir layout:
  <manual_dir>/short_sid2/<scene id>/<frame>.{npy,png}   several short exposures per scene
  <manual_dir>/long_sid2/<scene id>/<frame>.{npy,png}    exactly one long exposure per scene
  <manual_dir>/captions.jsonl   optional {"name": <scene id> or <scene>_<frame>, "caption": ...}
Splits (Retinexformer protocol): "test" = scenes whose id starts with "1",
"train" = all others. About 2,100 train / 600 test short frames over 231 scenes
(counts vary with the processed release). Config "retinexformer" resizes every
frame to 960x512 as Retinexformer does; "full" keeps the native size.
"""

import pathlib

import numpy as np

from nalsuper_jax.data import builder as paired
from nalsuper_jax.data import images

INSTRUCTIONS = """\
SID (Chen et al., "Learning to See in the Dark", CVPR 2018), sRGB-processed Sony subset
of SNR-Aware (Xu et al., CVPR 2022): download short_sid2 and long_sid2 from the links at
https://github.com/dvlab-research/SNR-Aware-Low-Light-Enhance and place them in
manual_dir so that it holds:
  short_sid2/<scene id>/*.npy (or images)   short exposures
  long_sid2/<scene id>/*.npy  (or images)   one long exposure per scene
  captions.jsonl                             (optional: {"name": <scene id>, "caption": ...})
Scenes whose id starts with "1" form the test split."""


def _frames(folder: pathlib.Path) -> list[pathlib.Path]:
  return sorted(p for p in folder.iterdir()
                if p.is_file() and (p.suffix.lower() == ".npy" or images.is_image(p)))


def _read(path: pathlib.Path) -> np.ndarray:
  if path.suffix.lower() != ".npy":
    return images.read_rgb8(path)
  try:
    array = np.load(path, allow_pickle=False)
  except Exception as e:
    raise images.ImageError(f"{path}: not a readable .npy array ({e})") from e
  return images.to_uint8_rgb(array, str(path))


class Builder(paired.PairedImageBuilder):
  """SID Sony sRGB pairs: many short exposures per scene, one long reference."""
  DESCRIPTION = __doc__
  HOMEPAGE = "https://github.com/cchen156/Learning-to-See-in-the-Dark"
  CITATION = """@inproceedings{Chen2018SID, title={Learning to See in the Dark},
  author={Chen Chen and Qifeng Chen and Jia Xu and Vladlen Koltun}, booktitle={CVPR},
  year={2018}}
@inproceedings{Xu2022SNR, title={SNR-Aware Low-Light Image Enhancement}, author={Xiaogang
  Xu and Ruixing Wang and Chi-Wing Fu and Jiaya Jia}, booktitle={CVPR}, year={2022}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = INSTRUCTIONS
  BUILDER_CONFIGS = [
      paired.PairedConfig(name="retinexformer", resize=(960, 512),
                          description="Frames resized to 960x512 (Retinexformer protocol)."),
      paired.PairedConfig(name="full", description="Native resolution."),
      paired.PairedConfig(name="retinexformer_skip_bad", resize=(960, 512), skip_bad=True,
                          description="960x512; skip and count unusable pairs."),
  ]

  def find_pairs(self, manual_dir):
    paired.require_dirs(manual_dir, ["short_sid2", "long_sid2"], INSTRUCTIONS)
    splits = {"train": [], "test": []}
    for scene_dir in sorted(p for p in (manual_dir / "short_sid2").iterdir() if p.is_dir()):
      scene = scene_dir.name
      longs = (_frames(manual_dir / "long_sid2" / scene)
               if (manual_dir / "long_sid2" / scene).is_dir() else [])
      if len(longs) != 1:
        problem = (f"{manual_dir / 'long_sid2' / scene}: expected exactly one long-exposure "
                   f"frame for scene {scene}, found {len(longs)}")
        if not self.skip_bad:
          raise paired.PairError(problem)
        self.problems.append(problem)
        continue
      split = "test" if scene.startswith("1") else "train"
      for short in _frames(scene_dir):
        splits[split].append(paired.Pair(f"{scene}_{short.stem}", short, longs[0],
                                         (f"{scene}_{short.stem}", scene)))
    return splits

  def load_low_high(self, pair, index):
    return _read(pair.low), _read(pair.high)
