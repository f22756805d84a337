"""LOLv1: the LOw-Light paired dataset of Wei et al. (RetinexNet, BMVC 2018).

Origin: 500 real 400x600 low/normal-light pairs captured by changing exposure
time and ISO; https://daooshee.github.io/BMVC2018website/ (files
`LOLdataset.zip`: our485/ for training, eval15/ for testing).

Citation:
  Chen Wei, Wenjing Wang, Wenhan Yang, Jiaying Liu. Deep Retinex
  Decomposition for Low-Light Enhancement. BMVC 2018.

Expected manual_dir layout (counts of the official release):
  <manual_dir>/our485/low/*.png   485 images    -> split "train"
  <manual_dir>/our485/high/*.png  485 images
  <manual_dir>/eval15/low/*.png    15 images    -> split "test"
  <manual_dir>/eval15/high/*.png   15 images
  <manual_dir>/captions.jsonl      optional content captions {"name": <stem>, "caption": ...}
Pairs are matched by file stem.
"""

from nalsuper_jax.data import builder as paired

INSTRUCTIONS = """\
LOLv1 (Wei et al., "Deep Retinex Decomposition for Low-Light Enhancement",
BMVC 2018): download LOLdataset.zip from https://daooshee.github.io/BMVC2018website/
and unzip it into manual_dir so that it holds:
  our485/low/*.png, our485/high/*.png   (485 training pairs)
  eval15/low/*.png, eval15/high/*.png   (15 test pairs)
  captions.jsonl                         (optional: {"name": <stem>, "caption": ...} per line)"""


class Builder(paired.PairedImageBuilder):
  """LOLv1: 485 train / 15 test real low/normal-light pairs."""
  DESCRIPTION = __doc__
  HOMEPAGE = "https://daooshee.github.io/BMVC2018website/"
  CITATION = """@inproceedings{Chen2018Retinex, title={Deep Retinex Decomposition for
  Low-Light Enhancement}, author={Chen Wei and Wenjing Wang and Wenhan Yang and
  Jiaying Liu}, booktitle={British Machine Vision Conference}, year={2018}}"""
  MANUAL_DOWNLOAD_INSTRUCTIONS = INSTRUCTIONS
  BUILDER_CONFIGS = paired.default_and_skip_bad()

  def find_pairs(self, manual_dir):
    paired.require_dirs(manual_dir, ["our485/low", "our485/high", "eval15/low", "eval15/high"],
                        INSTRUCTIONS)
    return {"train": self.pair(manual_dir / "our485/low", manual_dir / "our485/high"),
            "test": self.pair(manual_dir / "eval15/low", manual_dir / "eval15/high")}
