"""real_photos: distinct real photos from Debian packages and Python wheels.

Origin: photos inside Debian packages a user fetches without root
(`make photos`: `apt-get download` + `dpkg -x <deb> <manual_dir>/<package>`)
plus the wheel photos of `synthetic_lowlight`. Only photographs are listed
(wallpaper packages also hold drawings and renders, named below by what is
kept). Near-duplicates (the same photo in two packages or resolutions) are
dropped by comparing thumbnails, first listed first kept, and counted in the
build log. `mate-backgrounds` is never read: it is reserved for independent
evaluation.

Splits: "train" is every source but one; "test" is the whole
`lomiri-wallpapers-16.04` package (14 photographs by six photographers), so
the test photos come from cameras and scenes training never saw. Each photo
is stored once, short side `SHORT_SIDE`, as its own reference (`high`) with
a `low` darkened by `degrade.CAMERA` (test: no re-exposure, so the reference
is the photo itself); training regenerates `low` on the fly anyway.

Build:  make photos  (or the same by hand), then
        tfds build tfds_builders/real_photos --manual_dir=<photos dir> --data_dir=<dir>
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import pathlib
import zlib

import numpy as np
from PIL import Image

from nalsuper_jax.data import builder as paired
from nalsuper_jax.data import degrade, images
from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as wheels

log = logging.getLogger("nalsuper_jax.data")

SHORT_SIDE = 384
SEED = 20250113
TEST_PACKAGE = "lomiri-wallpapers-16.04"
THUMB_SIDE = 16         # photos are compared as 16x16 colour thumbnails...
DUPLICATE_RMS = 0.05    # ...and are the same photo below this RMS difference (0-1 scale;
                        #   the closest distinct photos listed here, a stereo pair, differ by 0.099)
MIN_SIDE = 384          # pictures with a shorter short side are left out


@dataclasses.dataclass(frozen=True)
class Files:
  """Listed files of one package: relative path -> content caption."""
  package: str
  folder: str
  files: dict[str, str]


@dataclasses.dataclass(frozen=True)
class QtResources:
  """Every WebP picture stored uncompressed in the listed Qt resource (.rcc)
  bundles, one content caption per bundle (GCompris packs its photos so)."""
  package: str
  folder: str
  bundles: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Wallpapers:
  """KDE wallpaper folders (<name>/contents/images/<W>x<H>.*): the largest
  landscape image of each listed folder."""
  package: str
  folder: str
  names: dict[str, str]


SOURCES = (
    QtResources("gcompris-qt-data", "usr/share/gcompris-qt/rcc", {
        "explore_monuments.rcc": "a famous monument or building",
        "explore_world_animals.rcc": "a wild animal in its habitat",
        "explore_farm_animals.rcc": "a farm animal",
        "erase.rcc": "an animal in nature",
    }),
    Files("opencv-doc", "usr/share/doc/opencv-doc/examples/data", {
        "aero1.jpg": "an aerial view of a town", "aloeL.jpg": "an aloe plant in a pot",
        "apple.jpg": "a red apple", "baboon.jpg": "the face of a mandrill",
        "board.jpg": "a circuit board", "building.jpg": "a hotel building behind trees",
        "butterfly.jpg": "a black and white butterfly on a leaf",
        "chicky_512.png": "a small dog on a blanket", "ela_original.jpg": "a notebook on a table",
        "fruits.jpg": "citrus fruits and kiwis", "graf1.png": "graffiti on a wall",
        "home.jpg": "a building under the sky", "leuvenA.jpg": "a street of brick houses",
        "licenseplate_motion.jpg": "the back of a car on a street",
        "messi5.jpg": "a footballer kicking a ball", "orange.jpg": "an orange",
        "rubberwhale1.png": "toys in front of a lattice", "smarties.png": "coloured sweets on a table",
        "squirrel_cls.jpg": "a squirrel on a branch", "stuff.jpg": "objects on a desk",
    }),
    Wallpapers("plasma-workspace-wallpapers", "usr/share/wallpapers", {
        "BytheWater": "a wooden jetty on a lake", "ColdRipple": "a pier in the fog",
        "DarkestHour": "a lake at dusk", "EveningGlow": "rowing boats on a shore at sunset",
        "FallenLeaf": "fallen autumn leaves", "Grey": "a curved modern building",
        "Kite": "a kite in the sky", "OneStandsOut": "a forest seen from above",
        "Path": "a path through a forest", "Volna": "a wave on a sandy beach",
        "summer_1am": "a lake under a summer night sky",
    }),
    Files("lomiri-wallpapers-20.04", "usr/share/backgrounds", {
        "Kleiber_by_Lukas_Baubkus.jpg": "a bird on a tree trunk",
    }),
    Files("palapeli-data", "usr/share/palapeli/collection", {
        "castle-maintenon.jpg": "a castle by a river", "cincinnati-bridge.jpg": "a bridge over a river",
        "citrus-fruits.jpg": "citrus fruits", "european-honey-bee.jpg": "a honey bee on a flower",
        "panther-chameleon-female.jpg": "a chameleon on a branch",
    }),
    Files(TEST_PACKAGE, "usr/share/backgrounds", {
        "Bridge_by_Sander_Klootwijk.jpg": "cables of a bridge against the sky",
        "Dragonfly_by_Bolly.jpg": "leaves of a tree against the sky",
        "Picture_0B_by_freespace.jpg": "a fig in a red bowl",
        "Picture_1A_by_freespace.jpg": "paint brushes in a jar",
        "Wine_by_Jakkub_Mede.jpg": "a living room with a wooden table",
        "aitzgorri_by_Aitzol_Berasategi.jpg": "a mountain valley in autumn",
        "analogpattern_by_Peter_Nerlich.jpg": "a blurred pattern of light",
        "free_by_Peter_Nerlich.jpg": "lamps hanging from a ceiling",
        "friends_by_Aitzol_Berasategi.jpg": "toy animals on a shelf",
        "greentock_by_Peter_Nerlich.jpg": "a clock face",
        "life_by_Aitzol_Berasategi.jpg": "a stream between rocks in a forest",
        "picosdeeuropa_by_Aitzol_Berasategi.jpg": "a path towards snowy mountains",
        "seeding_by_Clements_Engelhardt.jpg": "dandelion seed heads in a meadow",
        "sunset_by_Aitzol_Berasategi.jpg": "the sun setting over hills",
    }),
)
PACKAGES = tuple(dict.fromkeys(s.package for s in SOURCES))  # what `make photos` fetches

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Extract these Debian packages (no root needed), one folder per package:
  for p in {' '.join(PACKAGES)}; do
    apt-get download $p && dpkg -x $p_*.deb <manual_dir>/$p; done
(`make photos` does exactly this into workdirs/photos). Then pass
--manual_dir=<manual_dir>."""


@dataclasses.dataclass(frozen=True)
class Photo:
  name: str
  split: str
  caption: str
  path: pathlib.Path            # the file, or the bundle holding it
  member: int | None = None     # index among the bundle's WebP pictures


def webp_members(data: bytes) -> list[bytes]:
  """The RIFF/WebP files stored verbatim in a byte string, in order."""
  found, start = [], data.find(b"RIFF")
  while start >= 0:
    size = int.from_bytes(data[start + 4:start + 8], "little") + 8
    if data[start + 8:start + 12] == b"WEBP" and start + size <= len(data):
      found.append(data[start:start + size])
      start = data.find(b"RIFF", start + size)
    else:
      start = data.find(b"RIFF", start + 4)
  return found


def bundle_members(path: pathlib.Path) -> tuple[bytes, ...]:
  """A bundle's WebP pictures, parsed once for all its photos (a changed file is
  read again: the cache is keyed by its size and modification time)."""
  stat = path.stat()
  return _bundle_members(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _bundle_members(path: pathlib.Path, size: int, mtime_ns: int) -> tuple[bytes, ...]:
  del size, mtime_ns  # cache key only
  return tuple(webp_members(path.read_bytes()))


def _decode(data: bytes, where: str) -> np.ndarray:
  try:
    with Image.open(io.BytesIO(data)) as im:
      return np.asarray(im.convert("RGB"))
  except Exception as e:  # pylint: disable=broad-except  # corrupt member
    raise images.ImageError(f"{where}: not a readable image ({type(e).__name__}: {e})") from None


def _largest_landscape(folder: pathlib.Path) -> pathlib.Path:
  """contents/images/<W>x<H>.<ext> with the most pixels and W >= H."""
  def size(path):
    w, h = (int(v) for v in path.stem.split("x"))
    return (w >= h, w * h)
  candidates = [p for p in (folder / "contents" / "images").glob("*x*.*")
                if p.stem.replace("x", "").isdigit()]
  if not candidates:
    raise paired.ManualDataError(f"{folder}: no contents/images/<W>x<H> wallpaper inside")
  return max(candidates, key=size)


def list_photos(manual_dir: pathlib.Path) -> list[Photo]:
  """Every listed photo with its split, before de-duplication."""
  photos = [Photo(p["name"], "train", p["caption"], images.package_file(p["package"], p["path"]))
            for p in wheels.photos()]
  for source in SOURCES:
    root = manual_dir / source.package / source.folder
    split = "test" if source.package == TEST_PACKAGE else "train"
    paired.require_dirs(manual_dir, [f"{source.package}/{source.folder}"],
                        MANUAL_DOWNLOAD_INSTRUCTIONS)
    if isinstance(source, Files):
      for file, caption in source.files.items():
        photos.append(Photo(f"{source.package}:{pathlib.Path(file).stem}", split, caption,
                            root / file))
    elif isinstance(source, Wallpapers):
      for name, caption in source.names.items():
        photos.append(Photo(f"{source.package}:{name}", split, caption,
                            _largest_landscape(root / name)))
    else:
      for bundle, caption in source.bundles.items():
        members = bundle_members(root / bundle)
        photos += [Photo(f"{source.package}:{pathlib.Path(bundle).stem}:{i:03d}", split,
                         caption, root / bundle, i) for i in range(len(members))]
  return photos


def read_photo(photo: Photo) -> np.ndarray:
  """uint8 RGB pixels of a listed photo at full resolution."""
  if photo.member is None:
    return images.read_rgb8(photo.path)
  data = bundle_members(photo.path)[photo.member]
  return _decode(data, f"{photo.path} (WebP picture {photo.member})")


def thumbnail(image: np.ndarray) -> np.ndarray:
  """A float [0, 1] colour thumbnail that resolution and compression barely change."""
  small = Image.fromarray(image).resize((THUMB_SIDE, THUMB_SIDE), Image.BOX)
  return np.asarray(small, np.float32) / 255.0


class Builder(paired.PairedImageBuilder):
  """Real photos from installed packages, darkened like a phone camera."""
  DESCRIPTION = __doc__
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  BUILDER_CONFIGS = [paired.PairedConfig(name="default", description="Camera-like degradation.")]

  def find_pairs(self, manual_dir):
    self._scaled, self._captions, seen = {}, {}, []
    splits = {"train": [], "test": []}
    small = duplicates = 0
    for photo in list_photos(manual_dir):
      image = read_photo(photo)
      if min(image.shape[:2]) < MIN_SIDE:
        small += 1
        continue
      thumb = thumbnail(image)
      twin = next((name for name, other in seen
                   if np.sqrt(np.mean((thumb - other) ** 2)) < DUPLICATE_RMS), None)
      if twin is not None:
        duplicates += 1
        log.info("%s: same photo as %s; left out", photo.name, twin)
        continue
      seen.append((photo.name, thumb))
      self._scaled[photo.name] = images.scale_short_side(image, SHORT_SIDE)
      self._captions[photo.name] = photo.caption
      splits[photo.split].append(paired.Pair(photo.name, None, photo.path, (photo.name,)))
    log.info("real_photos: %d train and %d test photos; %d smaller than %d px and %d "
             "duplicates left out", len(splits["train"]), len(splits["test"]), small,
             MIN_SIDE, duplicates)
    return splits

  def _load_content(self, manual_dir, splits):
    return dict(self._captions)

  def load_low_high(self, pair, index):
    test = pair.name.startswith(TEST_PACKAGE + ":")
    config = degrade.CAMERA_AS_SHOT if test else degrade.CAMERA
    rng = np.random.default_rng([SEED, zlib.crc32(pair.name.encode())])
    return degrade.degrade(self._scaled[pair.name], rng, config)
