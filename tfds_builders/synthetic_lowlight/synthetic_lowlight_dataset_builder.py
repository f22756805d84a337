"""synthetic_lowlight: an embedded low-light dataset that builds with no network.

Origin: real colour photos shipped inside the scikit-image, scikit-learn and
matplotlib wheels (listed with their content captions in `photos.jsonl`
beside this file; never images that scikit-image would download). Each photo
is scaled so its short side is `SHORT_SIDE`, then gives several random crops,
each darkened by the ARCHITECTURE.md section-7 model (re-exposed target,
darkening, gain jitter, Poisson-Gaussian noise, 8-bit quantisation). Every
example's randomness is seeded by its name, so two builds are byte-identical.

Splits come from disjoint photos: "train" 8 photos x 20 crops of 256x256 =
160 pairs; "test" 3 photos x 4 crops of 240x320 = 12 pairs. The config
`with_grey` adds to "train" the wheel's 7 natural greyscale photos (as grey
RGB; `"set": "grey"` in photos.jsonl), 140 pairs more: other scenes for the
network's guess of a scene's exposure; its "test" split is the default's,
byte for byte.

Citation: the photos' own credits are in each package's data README
(scikit-image data/README.txt, scikit-learn datasets/images/README.txt,
matplotlib sample_data/README.txt).

No manual_dir is needed:  tfds build tfds_builders/synthetic_lowlight --config=default --data_dir=<dir>
(`--config=with_grey` for the other; without `--config`, `tfds build` builds both).
"""

import functools
import json
import pathlib
import zlib

import numpy as np

from nalsuper_jax.data import builder as paired
from nalsuper_jax.data import degrade, images

PHOTOS = pathlib.Path(__file__).with_name("photos.jsonl")
SHORT_SIDE = 384
CROPS = {"train": (20, (256, 256)), "test": (4, (240, 320))}  # split -> (crops per photo, HxW)
SEED = 20250113  # arXiv 2501.06546's month, for the record


@functools.cache
def _listed() -> tuple[dict, ...]:
  """Every photo of photos.jsonl, parsed once."""
  return tuple(json.loads(line) for line in PHOTOS.read_text().splitlines() if line.strip())


def photos(sets: tuple[str, ...] = ()) -> tuple[dict, ...]:
  """The photos of photos.jsonl: the colour ones, and those of the named
  extra `sets` ("grey")."""
  return tuple(p for p in _listed() if p.get("set") is None or p["set"] in sets)


def darkened_crop(photo: np.ndarray, name: str, size: tuple[int, int],
                  degradation: degrade.DegradeConfig) -> tuple[np.ndarray, np.ndarray]:
  """(low, high) of one example: a `size` (HxW) crop of the photo scaled to a
  short side of `SHORT_SIDE`, darkened; the crop and the noise are seeded by
  the example's `name`, so a build (or a bench scoring other photos the same
  way) is reproducible."""
  height, width = size
  rng = np.random.default_rng([SEED, zlib.crc32(name.encode())])
  photo = images.scale_short_side(photo, SHORT_SIDE)
  top = rng.integers(0, photo.shape[0] - height + 1)
  left = rng.integers(0, photo.shape[1] - width + 1)
  return degrade.degrade(photo[top:top + height, left:left + width], rng, degradation)


class SyntheticConfig(paired.PairedConfig):

  def __init__(self, *, degradation: degrade.DegradeConfig = degrade.DegradeConfig(),
               photo_sets: tuple[str, ...] = (), **kwargs):
    super().__init__(**kwargs)
    self.degradation = degradation
    self.photo_sets = photo_sets


class Builder(paired.PairedImageBuilder):
  """Photos from installed wheels, darkened synthetically; fully offline."""
  DESCRIPTION = __doc__
  BUILDER_CONFIGS = [
      SyntheticConfig(name="default", description="Section-7 degradation."),
      SyntheticConfig(name="with_grey", photo_sets=("grey",),
                      description="Section-7 degradation; greyscale photos added to train."),
  ]

  def _photos(self) -> tuple[dict, ...]:
    """This config's photos."""
    return photos(self.builder_config.photo_sets)

  def find_pairs(self, manual_dir):
    del manual_dir  # everything ships with the installed packages
    splits = {split: [] for split in CROPS}
    for photo in self._photos():
      path = images.package_file(photo["package"], photo["path"])
      for crop in range(CROPS[photo["split"]][0]):
        splits[photo["split"]].append(
            paired.Pair(f"{photo['name']}_{crop:02d}", None, path, (photo["name"],)))
    return splits

  def _load_content(self, manual_dir, splits):
    return {photo["name"]: photo["caption"] for photo in self._photos()}

  def load_low_high(self, pair, index):
    split = "test" if any(pair.name.startswith(n + "_") for n in self._test_photos) else "train"
    return darkened_crop(images.read_rgb8(pair.high), pair.name, CROPS[split][1],
                         self.builder_config.degradation)

  @functools.cached_property  # read for every example built
  def _test_photos(self) -> set[str]:
    return {photo["name"] for photo in self._photos() if photo["split"] == "test"}
