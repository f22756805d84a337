"""What every paired-image TFDS builder of ours shares.

A builder subclass only says where its pairs are (`find_pairs`) and what to
tell users who lack the data. This base reads the images (any depth or
channel count -> 8-bit RGB), checks sizes, writes the caption (content from
`captions.jsonl` + appearance of the normal-light image), skips-and-counts bad
pairs when `skip_bad=True`, and writes `array_record` by default so the data
loads with `tfds.data_source` into grain. Records are serialised
deterministically, so building the same inputs twice gives identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import pathlib
from typing import Callable, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds
from array_record.python import array_record_module
from PIL import Image

from nalsuper_jax.data import captions as captions_lib
from nalsuper_jax.data import images, tfds_compat

log = logging.getLogger("nalsuper_jax.data")


class ManualDataError(ValueError):
  """The manual_dir is missing or not laid out as the builder expects."""


class PairError(ValueError):
  """One pair is unusable (unpaired, unreadable, mismatched sizes)."""


@dataclasses.dataclass(frozen=True)
class Pair:
  name: str                       # unique example key, e.g. the file stem
  low: pathlib.Path | None        # None for builders that make `low` themselves
  high: pathlib.Path
  caption_keys: tuple[str, ...] = ()  # names looked up in captions.jsonl, in order


class PairedConfig(tfds.core.BuilderConfig):
  """Options shared by all paired builders.

  skip_bad: skip (and count in the build log) unpaired files, unreadable or
    truncated images and size mismatches, instead of stopping at the first.
  resize: (width, height) to resize both images to (bicubic), or None.
  """

  def __init__(self, *, skip_bad: bool = False,
               resize: tuple[int, int] | None = None, **kwargs):
    super().__init__(**kwargs)
    self.skip_bad = skip_bad
    self.resize = resize


def default_and_skip_bad() -> list[PairedConfig]:
  """The two configs of builders with no other options."""
  return [PairedConfig(name="default", description="Stop at the first unusable pair."),
          PairedConfig(name="skip_bad", skip_bad=True,
                       description="Skip and count unusable pairs.")]


FEATURES = {
    "low": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8, encoding_format="png"),
    "high": tfds.features.Image(shape=(None, None, 3), dtype=np.uint8, encoding_format="png"),
    "caption": tfds.features.Text(),
    "name": tfds.features.Text(),
}


def pair_by_stem(low_dir: pathlib.Path, high_dir: pathlib.Path, *,
                 low_key: Callable[[str], str] = lambda s: s,
                 high_key: Callable[[str], str] = lambda s: s,
                 skip_bad: bool = False, problems: list[str] | None = None) -> list[Pair]:
  """Matches image files in two folders by a key derived from their stems.

  Unmatched files, and two files in one folder with the same key (`a.png`
  beside `a.jpg`: which one is the pair is a guess), raise a PairError naming
  them, or with `skip_bad` are appended to `problems` and left out.
  """
  problems = [] if problems is None else problems
  found = []

  def index(folder, key):
    by_key: dict[str, list[pathlib.Path]] = {}
    for path in sorted(folder.iterdir()):
      if path.is_file() and images.is_image(path):
        by_key.setdefault(key(path.stem), []).append(path)
    for k, paths in by_key.items():
      if len(paths) > 1:
        found.append(f"{paths[0]}: {len(paths)} images share the name {k!r} "
                     f"({', '.join(p.name for p in paths)}); expected one per pair")
    return {k: paths[0] for k, paths in by_key.items() if len(paths) == 1}, set(by_key)

  (lows, low_keys), (highs, high_keys) = index(low_dir, low_key), index(high_dir, high_key)
  found += ([f"{lows[k]}: no matching image in {high_dir}" for k in sorted(set(lows) - high_keys)]
            + [f"{highs[k]}: no matching image in {low_dir}" for k in sorted(set(highs) - low_keys)])
  if found and not skip_bad:
    raise PairError(found[0] + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
  problems.extend(found)
  for problem in found:
    log.warning("skipped: %s", problem)
  return [Pair(lows[k].stem, lows[k], highs[k], (lows[k].stem, highs[k].stem))
          for k in sorted(set(lows) & set(highs))]


def require_dirs(manual_dir: pathlib.Path, relative: Sequence[str], instructions: str) -> None:
  """Fails with the download instructions if any expected folder is missing."""
  missing = [r for r in relative if not (manual_dir / r).is_dir()]
  if missing:
    raise ManualDataError(
        f"manual_dir {str(manual_dir)!r} lacks {missing}.\n{instructions}")


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


class PairedImageBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base class: subclasses set the class attributes and `find_pairs`."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "Captions shade the exposure word (captions.EXPOSURE_SHADES)."}
  BUILDER_CONFIGS = [PairedConfig(name="default")]
  DESCRIPTION = ""
  HOMEPAGE = ""
  CITATION = ""

  def __init__(self, *, file_format=None, **kwargs):
    super().__init__(file_format=file_format or tfds.core.FileFormat.ARRAY_RECORD, **kwargs)
    self.problems: list[str] = []  # what skip_bad left out, for the build log and tests

  def download_and_prepare(self, *args, **kwargs):
    with tfds_compat.deterministic_serialization():
      return super().download_and_prepare(*args, **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    # Built directly (not dataset_info_from_configs): our builders live
    # outside TFDS's package tree, where that helper looks for metadata files.
    return tfds.core.DatasetInfo(
        builder=self, description=self.DESCRIPTION,
        features=tfds.features.FeaturesDict(FEATURES),
        homepage=self.HOMEPAGE or None, citation=self.CITATION or None)

  # -- what subclasses provide ------------------------------------------------
  def find_pairs(self, manual_dir: pathlib.Path) -> dict[str, list[Pair]]:
    """split name -> pairs; raise ManualDataError for a wrong layout."""
    raise NotImplementedError

  def captions_file(self, manual_dir: pathlib.Path) -> pathlib.Path | None:
    return manual_dir / "captions.jsonl"

  def load_low_high(self, pair: Pair, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Reads a pair as uint8 RGB arrays; builders that synthesise override this."""
    return images.read_rgb8(pair.low), images.read_rgb8(pair.high)

  # -- the shared machinery ---------------------------------------------------
  @property
  def skip_bad(self) -> bool:
    return bool(getattr(self.builder_config, "skip_bad", False))

  def pair(self, low_dir: pathlib.Path, high_dir: pathlib.Path, **keys) -> list[Pair]:
    """`pair_by_stem` with this builder's skip_bad and problem log."""
    return pair_by_stem(low_dir, high_dir, skip_bad=self.skip_bad, problems=self.problems, **keys)

  def manual_path(self, dl_manager) -> pathlib.Path:
    try:
      path = pathlib.Path(str(dl_manager.manual_dir))
    except AssertionError as e:  # TFDS: manual dir missing or empty
      raise ManualDataError(f"{e}") from e
    if not path.is_dir():
      raise ManualDataError(f"manual_dir {str(path)!r} does not exist.\n"
                            f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    return path

  def _split_generators(self, dl_manager):
    manual_dir = self.manual_path(dl_manager) if self.MANUAL_DOWNLOAD_INSTRUCTIONS else None
    splits = self.find_pairs(manual_dir)
    empty = [s for s, pairs in splits.items() if not pairs]
    if empty:
      raise ManualDataError(f"no image pairs found for split(s) {empty} under "
                            f"{manual_dir}.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS or ''}")
    content = self._load_content(manual_dir, splits)
    return {split: self._generate_examples(pairs, content) for split, pairs in splits.items()}

  def _load_content(self, manual_dir, splits) -> dict[str, str]:
    path = self.captions_file(manual_dir) if manual_dir is not None else None
    if path is None or not path.is_file():
      return {}
    content = captions_lib.load_captions_jsonl(path)
    keys = [k for pairs in splits.values() for p in pairs for k in (p.caption_keys or (p.name,))]
    named = {p.name for pairs in splits.values() for p in pairs
             if any(k in content for k in (p.caption_keys or (p.name,)))}
    no_caption = sorted({p.name for pairs in splits.values() for p in pairs} - named)
    no_image = sorted(set(content) - set(keys))
    if no_caption:
      log.warning("%s: %d image(s) without a caption (appearance only): %s", path,
                  len(no_caption), ", ".join(no_caption[:20]))
    if no_image:
      log.warning("%s: %d caption(s) without an image: %s", path, len(no_image),
                  ", ".join(no_image[:20]))
    return content

  def _example(self, pair: Pair, index: int, content: dict[str, str]) -> dict:
    low, high = self.load_low_high(pair, index)
    if low.shape != high.shape:
      raise PairError(f"{pair.low}: size {low.shape[1]}x{low.shape[0]} differs from "
                      f"{pair.high}: {high.shape[1]}x{high.shape[0]}")
    resize = getattr(self.builder_config, "resize", None)
    if resize:
      low, high = _resize(low, tuple(resize)), _resize(high, tuple(resize))
    text = next((content[k] for k in (pair.caption_keys or (pair.name,)) if k in content), "")
    return {"low": low, "high": high, "caption": captions_lib.caption(text, high),
            "name": pair.name}

  def _generate_examples(self, pairs: list[Pair], content: dict[str, str]) -> Iterator:
    skipped = 0
    for index, pair in enumerate(pairs):
      try:
        example = self._example(pair, index, content)
      except (images.ImageError, PairError) as e:
        if not self.skip_bad:
          raise
        skipped += 1
        self.problems.append(str(e))
        log.warning("skipped: %s", e)
        continue
      yield pair.name, example
    if skipped or self.problems:
      log.warning("%s: skipped %d bad pair(s); %d problem(s) in all (each named above): %s",
                  self.name, skipped, len(self.problems), "; ".join(self.problems))


def split_digest(version_dir: str | pathlib.Path, split: str) -> list[str]:
  """SHA-256 of each record of a built split, in record order, canonicalised.

  Re-serialised deterministically, so datasets written by other tools (or by
  TFDS without `tfds_compat.deterministic_serialization`) compare by content.
  """
  import tensorflow as tf  # pylint: disable=import-outside-toplevel  # heavy; only digests need it
  digests = []
  for path in sorted(pathlib.Path(version_dir).glob(f"*-{split}.array_record-*")):
    reader = array_record_module.ArrayRecordReader(str(path))
    for record in reader.read_all():
      example = tf.train.Example.FromString(record)
      digests.append(hashlib.sha256(example.SerializeToString(deterministic=True)).hexdigest())
    reader.close()
  return digests
