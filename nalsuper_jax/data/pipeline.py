"""grain input pipelines: training crops and whole-image evaluation.

Training: data source -> seeded shuffle (new order every epoch) -> repeat ->
the same random crop on low and high (a share of them from the image scaled
down: `zoom_out`) -> flips and 90-degree rotations ->
optional on-the-fly degradation -> tokenization -> this process's part of
each global batch -> batch -> prefetch (threads, or worker processes). All randomness is a function
of (seed, element index), so the iterator's state is just a position: saving
it with the checkpoint and restoring it gives exactly the batches an
uninterrupted run would have seen.

Evaluation: whole images, reflect-padded to the network's multiple, each
with its original size so outputs can be cropped back; shards are padded to
equal length (marked `valid=False`) so hosts run the same number of steps.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import math
import os
import threading
from typing import Any, ClassVar, Mapping, Sequence

import grain
import numpy as np

from nalsuper_jax.data import captions as captions_lib
from nalsuper_jax.data import degrade as degrade_lib
from nalsuper_jax.data import images as images_lib
from nalsuper_jax.models.padding import pad_to_multiple
from nalsuper_jax.text.tokenizer import Tokenizer


@dataclasses.dataclass(frozen=True)
class Shard:
  """Which slice of the data this process reads (jax.process_index/count)."""
  index: int = 0
  count: int = 1

  def __post_init__(self):
    if not 0 <= self.index < self.count:
      raise ValueError(f"process index {self.index} outside [0, {self.count})")


def text(value) -> str:
  """TFDS text (bytes) or str -> str."""
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class DecodeText(grain.transforms.Map):
  """TFDS Text features arrive as bytes; the tokenizer wants str."""

  def map(self, element):
    return {**element, "caption": text(element["caption"]), "name": text(element["name"])}


# The longest side of `context`, the whole-image view a training caption
# describes: every k-th pixel, enough for mean, spread and colour shares
# (describing whole photos at every step would cost the train step's cores).
CONTEXT_SIDE = 128


def context_view(image: np.ndarray, side: int = CONTEXT_SIDE) -> np.ndarray:
  """`image` strided so that its longer side is at most `side` pixels."""
  stride = max(1, math.ceil(max(image.shape[:2]) / side))
  return np.ascontiguousarray(image[::stride, ::stride])


def check_zoom_out(zoom_out: float) -> None:
  """The rule for `config.data.zoom_out`: a probability."""
  if not 0 <= zoom_out <= 1:
    raise ValueError(f"zoom_out={zoom_out} must be a probability in [0, 1]")


class PairedCropFlipRotate(grain.transforms.RandomMap):
  """The same random crop, flips and 90-degree rotation on low and high
  (on `high` alone when `low` was dropped, to be regenerated from it).

  Images smaller than the crop are reflect-padded up to it first. With
  `context`, the element also gets `context_view(high)` of the whole image,
  taken before cropping, for captions that describe the image (as test
  captions do) rather than the crop.

  With probability `zoom_out` the crop is taken from the image scaled down
  (Lanczos) to a short side of `crop`: nearly the whole scene in one crop,
  as an enhanced photo is seen, so the network's global averages (channel
  attention, CAFB) and a re-described caption meet whole-scene statistics
  in training too, not only a small window's. Given `low` images are scaled
  alike (their noise averages down); on-the-fly pairs are darkened after it.
  """

  def __init__(self, crop: int, augment: bool = True, context: bool = False,
               zoom_out: float = 0.0):
    check_zoom_out(zoom_out)
    self.crop = crop
    self.augment = augment
    self.context = context
    self.zoom_out = zoom_out

  def random_map(self, element, rng: np.random.Generator):
    keys = [k for k in IMAGE_KEYS if k in element]
    images = [np.asarray(element[k]) for k in keys]
    if any(image.shape != images[0].shape for image in images):
      raise ValueError(f"{text(element.get('name', '?'))}: low {images[0].shape} != "
                       f"high {images[-1].shape}")
    extra = {"context": context_view(images[-1])} if self.context else {}
    # Drawn only when enabled, so that at 0 every other draw is as before.
    if self.zoom_out and rng.uniform() < self.zoom_out and min(images[0].shape[:2]) > self.crop:
      images = [images_lib.scale_short_side(image, self.crop) for image in images]
    h, w = images[0].shape[:2]
    ph, pw = max(self.crop - h, 0), max(self.crop - w, 0)
    if ph or pw:
      pad = ((0, ph), (0, pw), (0, 0))
      images = [np.pad(image, pad, mode="symmetric") for image in images]
      h, w = images[0].shape[:2]
    top = int(rng.integers(0, h - self.crop + 1))
    left = int(rng.integers(0, w - self.crop + 1))
    window = (slice(top, top + self.crop), slice(left, left + self.crop))
    images = [image[window] for image in images]
    if self.augment:
      k = int(rng.integers(0, 4))
      flip = bool(rng.integers(0, 2))
      images = [np.rot90(image, k) for image in images]
      if flip:
        images = [image[:, ::-1] for image in images]
    return {**element, **extra, **{k: np.ascontiguousarray(v) for k, v in zip(keys, images)}}


@dataclasses.dataclass(frozen=True)
class CaptionAugment:
  """Probabilities of replacing a training caption (the rest keep theirs).

  `appearance`: the describer's words for the *crop's* target, no content;
  `exposure`: just "a <exposure> photo"; `swap`: another training example's
  content followed by the crop's appearance. With a few photos, content words
  identify each photo and the network learns per-photo brightness from them
  instead of obeying the appearance words; seeing every target under every
  content teaches that content does not set the exposure. `invented`: as
  `swap`, with content invented from `captions.CONTENT_WORDS` (scenes and
  light words no training caption has), so that unseen content, as every
  user's is, does not set it either. `relight`: the
  target is re-exposed to a random exposure word's luminance range and the
  caption becomes "a <that word> photo", `low` unchanged -- the same input
  under different words, so the words (not only the input) set brightness.
  `default`: the caption becomes `default_prompt` (the prompt evaluation and
  `nalsuper-enhance` use when given none), target unchanged, so that prompt
  is trained to mean "the usual look of this scene" (the mean over training
  targets) instead of whatever its words resemble; never drawn when 0. With
  `default_as_shot` and on-the-fly degradation the target is the photo as
  shot, without the random re-exposure the other captions describe: the
  prompt then means "as the photographer exposed it" (what held-out photos
  are scored against), and its targets carry no brightness the input cannot
  tell. With `relight_full`, a relit target's caption is its content followed
  by the relit target's appearance words (the form test captions take), not
  "a <word> photo": the words must set brightness in long captions too, where
  otherwise the content words, which identify a photo, predict it.
  """
  appearance: float = 0.0
  exposure: float = 0.0
  swap: float = 0.0
  relight: float = 0.0
  default: float = 0.0
  default_prompt: str = ""
  default_as_shot: bool = False
  relight_full: bool = False
  invented: float = 0.0

  # Draw order. Kinds added later come last, so that with them at 0 every
  # other draw is as it was before they existed.
  KINDS: ClassVar[tuple[str, ...]] = ("appearance", "exposure", "swap", "relight", "default",
                                      "invented")

  @property
  def probabilities(self) -> tuple[float, ...]:
    """In `KINDS` order."""
    return tuple(getattr(self, kind) for kind in self.KINDS)

  def choose(self, u: float) -> str | None:
    """The kind a uniform draw `u` in [0, 1) selects; None keeps the caption."""
    for kind, edge in zip(self.KINDS, np.cumsum(self.probabilities)):
      if u < edge:
        return kind
    return None

  def __post_init__(self):
    p = self.probabilities
    if min(p) < 0 or sum(p) > 1:
      raise ValueError(f"caption augmentation probabilities {self} must be >= 0 "
                       "and sum to at most 1")
    if self.default and not self.default_prompt.strip():
      raise ValueError("caption augmentation `default` > 0 needs a non-empty default prompt")

  @classmethod
  def from_config(cls, config) -> "CaptionAugment":
    """From config.data.caption_* and config.eval.default_prompt."""
    d = config.data
    return cls(d.caption_appearance, d.caption_exposure, d.caption_swap, d.caption_relight,
               d.caption_default, config.eval.default_prompt, d.caption_default_as_shot,
               d.caption_relight_full, d.caption_invented)

  @property
  def active(self) -> bool:
    return sum(self.probabilities) > 0


class WithContent:
  """A source whose elements carry `content`: the caption minus the describer's
  words (`captions.content_of`, parsed from the text).

  `AugmentCaption` re-describes the final (cropped, possibly re-exposed)
  target of a kept caption, so it needs the content alone.
  """

  def __init__(self, source: Sequence[Mapping[str, Any]]):
    self.source = source

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index):
    element = self.source[index]
    return {**element, "content": captions_lib.content_of(text(element["caption"]))}

  def contents(self) -> tuple[str, ...]:
    """The distinct contents of every record, sorted (reads each record once)."""
    return tuple(sorted({self[i]["content"] for i in range(len(self))}))


def caption_contents(source: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
  """The distinct content parts of a source's captions (reads every example once)."""
  return (source if isinstance(source, WithContent) else WithContent(source)).contents()


class AugmentCaption(grain.transforms.RandomMap):
  """Applies `CaptionAugment` to a cropped element (seeded per element).

  A kept caption is re-described from the element's (possibly re-exposed)
  target when the element has a `content` (`WithContent`). The words describe
  its `context` (the whole image) when it has one, else the crop `high`.
  """

  def __init__(self, augment: CaptionAugment, contents: Sequence[str] = ()):
    if augment.swap and not contents:
      raise ValueError("caption swapping needs the training captions' contents")
    self.augment = augment
    self.contents = tuple(contents)

  def random_map(self, element, rng: np.random.Generator):
    a = self.augment
    kind = a.choose(float(rng.uniform()))
    if kind == "default":  # the as-shot target when the degradation kept one
      return {**element, "caption": a.default_prompt,
              "high": element.get(degrade_lib.AS_SHOT, element["high"])}
    if kind is None and "content" not in element:
      return element
    if kind == "relight":
      context = element.get("context")
      high, context = captions_lib.relight(np.asarray(element["high"]), rng,
                                           None if context is None else np.asarray(context))
      looks = captions_lib.describe(high if context is None else context)
      if a.relight_full and "content" in element:
        caption = captions_lib.with_content(element["content"], looks)
      else:
        caption = captions_lib.exposure_caption(looks.exposure)
      return {**element, "high": high, "caption": caption,
              **({} if context is None else {"context": context})}
    looks = captions_lib.describe(np.asarray(element.get("context", element["high"])))
    if kind is None:        # kept: its content, re-described from the final target
      caption = captions_lib.with_content(element["content"], looks)
    elif kind == "appearance":
      caption = looks.text()
    elif kind == "exposure":
      caption = captions_lib.exposure_caption(looks.exposure)
    elif kind == "invented":
      caption = captions_lib.with_content(captions_lib.invented_content(rng), looks)
    else:                   # swap
      content = self.contents[int(rng.integers(len(self.contents)))]
      caption = captions_lib.with_content(content, looks)
    return {**element, "caption": caption}


class Tokenize(grain.transforms.Map):
  """caption -> ids, mask (fixed length, so batches stack)."""

  def __init__(self, tokenizer: Tokenizer, key: str = "caption"):
    self.tokenizer = tokenizer
    self.key = key

  def map(self, element):
    ids, mask = self.tokenizer([element[self.key]])
    return {**element, "ids": ids[0], "mask": mask[0]}


class KeepKeys(grain.transforms.Map):
  """Drops fields the model does not consume (strings do not batch to arrays)."""

  def __init__(self, keys: Sequence[str]):
    self.keys = tuple(keys)

  def map(self, element):
    return {k: element[k] for k in self.keys}


class DropKeys(grain.transforms.Map):
  """Drops fields a later transform regenerates (`low` under on-the-fly degradation)."""

  def __init__(self, keys: Sequence[str]):
    self.keys = frozenset(keys)

  def map(self, element):
    return {k: v for k, v in element.items() if k not in self.keys}


IMAGE_KEYS = ("low", "high")  # the image features of a paired example
TRAIN_KEYS = (*IMAGE_KEYS, "ids", "mask")


class DataNotBuilt(FileNotFoundError):
  """The configured TFDS dataset/split is not in data_dir."""


class DataCorrupt(ValueError):
  """A record of a built dataset cannot be read or decoded."""


class CheckedSource:
  """A random-access source whose read errors name the dataset's folder and record.

  A damaged `array_record` file otherwise surfaces as a decoder error deep in
  a grain worker, naming neither the file nor the dataset.
  """

  def __init__(self, source, what: str):
    self.source, self.what = source, what
    info = getattr(source, "dataset_info", None)
    self.folder = getattr(info, "data_dir", None) or "<data_dir>"

  def __len__(self) -> int:
    return len(self.source)

  def __getitem__(self, index):
    try:
      return self.source[index]
    except IndexError:
      raise
    except Exception as e:  # pylint: disable=broad-except  # readers/decoders raise many types
      first = " ".join(str(e).strip().splitlines()[:1])[:200]
      raise DataCorrupt(f"{self.folder}: record {index} of {self.what} is unreadable "
                        f"({type(e).__name__}: {first}); expected an intact build (rebuild "
                        "it with tfds build)") from None

  def __getattr__(self, name):  # dataset_info, split, ...: the wrapped source's
    if name == "source":  # not set yet (unpickling in a grain worker)
      raise AttributeError(name)
    return getattr(self.source, name)


def load_source(name: str, split: str, data_dir: str | None, *,
                skip_decoding: Sequence[str] = ()):
  """`tfds.data_source` with a one-line error that says how to build what is missing.

  Never builds: TFDS would otherwise prepare a missing dataset whose builder
  happens to be imported in this process (minutes, in a folder the user
  named for reading), and fail with its own message where it is not.

  Features named in `skip_decoding` stay encoded bytes (e.g. `low` when
  training regenerates it from `high`: decoding a PNG nobody reads is wasted
  CPU on the cores the train step uses).
  """
  # TFDS takes most of a second to import (it loads TensorFlow lazily, only for
  # what needs it): pipelines over other sources never pay it.
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  decoders = {key: tfds.decode.SkipDecoding() for key in skip_decoding} or None
  try:
    return CheckedSource(tfds.data_source(name, split=split, data_dir=data_dir,
                                          download=False, decoders=decoders),
                         f"config.data.name={name!r} split {split!r}")
  except Exception as e:  # TFDS raises several types for "not built"
    folder, _, builder_config = name.partition("/")
    # TFDS's own message lists its whole catalogue (~1000 lines): keep its first line.
    reason = " ".join(str(e).strip().splitlines()[:1])[:200]
    raise DataNotBuilt(
        f"config.data.name={name!r} split {split!r}: not built in config.data.data_dir="
        f"{data_dir!r} ({reason}); build it with: tfds build tfds_builders/{folder} "
        + (f"--config={builder_config} " if builder_config else "")
        + f"--data_dir={data_dir or '<dir>'}"
        + ("" if folder == "synthetic_lowlight" else " --manual_dir=<downloaded files>")) from None


class Subset:
  """Records `indices` of `source`, in that order: a split with some examples left out."""

  def __init__(self, source, indices: Sequence[int]):
    self.source, self.indices = source, list(indices)

  def __len__(self) -> int:
    return len(self.indices)

  def __getitem__(self, index):
    return self.source[self.indices[index]]

  def __getattr__(self, name):  # dataset_info, ...: the wrapped source's
    if name == "source":  # not set yet (unpickling in a grain worker)
      raise AttributeError(name)
    return getattr(self.source, name)


def names_matching(names: Sequence[str], patterns: Sequence[str], what: str) -> list[bool]:
  """Per name, whether a shell-style pattern (`fnmatch`) matches it; a pattern that
  matches no name is an error naming it (a typo would silently leave nothing out)."""
  hits = [[fnmatch.fnmatchcase(n, p) for n in names] for p in patterns]
  unused = [p for p, h in zip(patterns, hits) if not any(h)]
  if unused:
    raise ValueError(f"{what}: pattern(s) {unused} match no example name "
                     f"(names look like {sorted(names)[:3]})")
  return [any(column) for column in zip(*hits)] if hits else [False] * len(names)


def load_training_source(data: Mapping[str, Any], *, skip_decoding: Sequence[str] = ()):
  """`config.data`'s training split without the examples `data.train_exclude` names.

  For choosing a recipe on photos training never saw: e.g. `("china_*",)`
  leaves out every crop of one photo of the embedded set (bench.quality
  --split=heldout). Names are read with the images left encoded.
  """
  patterns = tuple(data.get("train_exclude") or ())  # configs written before the field: none
  if not patterns:
    return load_source(data["name"], data["train_split"], data["data_dir"],
                       skip_decoding=skip_decoding)
  what = f"config.data.train_exclude={list(patterns)} (split {data['train_split']!r})"
  _, kept = split_by_names(data["name"], data["train_split"], data["data_dir"], patterns, what,
                           skip_decoding=skip_decoding)
  if not len(kept):
    raise ValueError(f"{what}: leaves no training example")
  return kept


def training_caption_contents(data: Mapping[str, Any]) -> tuple[str, ...]:
  """`caption_contents` of `config.data`'s training split, read with the images
  left encoded: what caption swapping draws from. Decoding every image at
  start-up only to read its caption took 0.31 s for the demo's 160 examples
  (0.02 s left encoded), in every process, and grows with the images' size."""
  return caption_contents(load_training_source(data, skip_decoding=IMAGE_KEYS))


def split_by_names(name: str, split: str, data_dir: str | None, patterns: Sequence[str],
                   what: str, *, skip_decoding: Sequence[str] = ()) -> tuple[Subset, Subset]:
  """(the examples of a split that a pattern names, the others), in record order;
  `what` names the patterns in the error for one that matches nothing."""
  source = load_source(name, split, data_dir, skip_decoding=skip_decoding)
  matched = names_matching(example_names(name, split, data_dir), patterns, what)
  return (Subset(source, [i for i, m in enumerate(matched) if m]),
          Subset(source, [i for i, m in enumerate(matched) if not m]))


def example_names(name: str, split: str, data_dir: str | None) -> list[str]:
  """The example names of a split, in record order (images left encoded)."""
  source = load_source(name, split, data_dir, skip_decoding=IMAGE_KEYS)
  return [text(source[i]["name"]) for i in range(len(source))]


def per_process_batch(global_batch: int, shard: Shard) -> int:
  if global_batch % shard.count:
    raise ValueError(f"config.data.batch_size={global_batch} is not divisible by the "
                     f"{shard.count} processes")
  return global_batch // shard.count


class ProcessSlice(grain.MapDataset):
  """This process's contiguous part of every global batch of `parent`.

  The global stream (shuffle, crops, degradation, captions) is the same on
  every process and its randomness is keyed by the global index, so global
  batch b is the same examples with the same augmentation whatever the
  process count: N processes reproduce the one-process loss curve. Maps are
  lazy, so each process only decodes and augments its own disjoint part.
  """

  def __init__(self, parent: grain.MapDataset, global_batch: int, shard: Shard):
    super().__init__(parent)
    self._global = global_batch
    self._local = per_process_batch(global_batch, shard)
    self._offset = shard.index * self._local

  def __len__(self) -> int:
    return len(self._parent) // self._global * self._local

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    batch, position = divmod(index, self._local)
    return self._parent[batch * self._global + self._offset + position]

  def __str__(self) -> str:
    return f"ProcessSlice(global_batch={self._global}, local={self._local}, offset={self._offset})"


def train_dataset(source: Sequence[Mapping[str, Any]], *, crop: int, global_batch: int,
                  seed: int, tokenizer: Tokenizer | None, shard: Shard = Shard(),
                  augment: bool = True,
                  degradation: degrade_lib.DegradeConfig | None = None,
                  caption_augment: CaptionAugment = CaptionAugment(),
                  caption_whole_image: bool = False,
                  zoom_out: float = 0.0,
                  keep_names: bool = False,
                  contents: Sequence[str] | None = None) -> grain.MapDataset:
  """The infinite, deterministic training dataset of this process's batches.

  Every process builds the same global stream and takes its slice of each
  global batch (`ProcessSlice`), so the batches do not depend on the number
  of processes. `keep_names` keeps each example's name (for data logs).

  With `degradation`, `low` is regenerated from `high` for every element
  (on-the-fly pairs from clean images; the source may skip decoding `low`) and captions' appearance words are
  re-computed from the new target. Without a tokenizer, captions are
  dropped (text-free ablations); otherwise `caption_augment` may replace
  them (see CaptionAugment).
  Re-described captions describe the crop's target, or with
  `caption_whole_image` the whole target image under the same re-exposure:
  what a test caption describes (a crop's brightness differs from its
  image's by more than an exposure word's shade). `zoom_out`: the share of
  crops taken from the image scaled down (PairedCropFlipRotate). `contents`:
  the captions' contents swapping draws from (None: read from `source` here,
  every example decoded once; `training_caption_contents` reads them without
  the images).
  """
  if len(source) < global_batch:
    raise ValueError(f"{len(source)} training examples cannot fill one batch of "
                     f"config.data.batch_size={global_batch}")
  if tokenizer is not None and degradation is not None:
    source = WithContent(source)  # kept captions are re-described after degradation
  ds = grain.MapDataset.source(source).seed(seed).shuffle().repeat().map(DecodeText())
  if degradation is not None:
    ds = ds.map(DropKeys(("low",)))  # regenerated from `high` after cropping
  describes = tokenizer is not None and (caption_augment.active or degradation is not None)
  ds = ds.random_map(PairedCropFlipRotate(crop, augment,
                                          context=caption_whole_image and describes,
                                          zoom_out=zoom_out))
  if degradation is not None:
    keep = tokenizer is not None and caption_augment.default > 0 and caption_augment.default_as_shot
    ds = ds.random_map(degrade_lib.SyntheticLowLight(degradation, keep_as_shot=keep))
  keys = IMAGE_KEYS
  if tokenizer is not None:
    if describes:
      if not caption_augment.swap:
        contents = ()
      elif contents is None:
        contents = caption_contents(source)
      ds = ds.random_map(AugmentCaption(caption_augment, contents))
    ds = ds.map(Tokenize(tokenizer))
    keys = TRAIN_KEYS
  keys += ("name",) if keep_names else ()
  ds = ProcessSlice(ds.map(KeepKeys(keys)), global_batch, shard)
  return ds.batch(per_process_batch(global_batch, shard), drop_remainder=True)


def lower_priority(nice: int) -> None:
  """Makes the calling thread (Linux) or process yield the CPU to the trainer.

  On a machine whose cores the train step keeps busy (a CPU host), reader
  threads at the trainer's priority preempt XLA's worker threads, and every
  parallel op then waits for its slowest thread: 2 reader threads cost +39%
  per step at the demo shape on 2 cores for ~0.1 CPU-s of loading
  (bench.loop_overhead). At low priority they run in the step's idle
  moments instead; where cores are idle (accelerator hosts) nothing changes.
  """
  if nice <= 0:
    return
  try:
    thread = threading.get_native_id()
    if os.getpriority(os.PRIO_PROCESS, thread) < nice:  # lower only, never raise
      os.setpriority(os.PRIO_PROCESS, thread, nice)
  except (AttributeError, OSError):  # no per-thread priorities here: leave it
    pass


class LowerThreadPriority(grain.transforms.Map):
  """Identity; lowers the priority of each grain reader thread it runs in, once."""

  def __init__(self, nice: int):
    self.nice = nice
    self._done = threading.local()

  def map(self, element):
    if not getattr(self._done, "value", False):
      if threading.current_thread() is not threading.main_thread():
        lower_priority(self.nice)
      self._done.value = True
    return element

  def __getstate__(self):  # thread-locals do not pickle (grain worker processes)
    return {"nice": self.nice}

  def __setstate__(self, state):
    self.__init__(state["nice"])


def _lower_worker_priority(nice: int, worker_index: int, worker_count: int) -> None:
  del worker_index, worker_count
  os.nice(max(nice, 0))


def train_iterator(dataset: grain.MapDataset, *, num_threads: int = 2,
                   prefetch: int = 32, worker_count: int = 0,
                   nice: int = 0) -> grain.DatasetIterator:
  """Threads in-process by default (fastest on few cores); processes if asked.

  `nice` > 0 runs the readers (threads or worker processes) at that lower
  CPU priority (see `lower_priority`). The returned iterator has
  get_state()/set_state() and is saved in checkpoints with
  grain.checkpoint.CheckpointSave (restores exactly with the same worker_count).
  """
  if worker_count == 0 and nice > 0:
    dataset = dataset.map(LowerThreadPriority(nice))
  it = dataset.to_iter_dataset(grain.ReadOptions(num_threads=num_threads,
                                                 prefetch_buffer_size=prefetch))
  if worker_count > 0:
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count),
                        worker_init_fn=functools.partial(_lower_worker_priority, nice))
  return iter(it)


class PadForEval(grain.transforms.Map):
  """Reflect-pads a whole image pair to the network's multiple; keeps its size."""

  def __init__(self, multiple: int):
    self.multiple = multiple

  def map(self, element):
    low, size = pad_to_multiple(np.asarray(element["low"])[None], self.multiple)
    high, _ = pad_to_multiple(np.asarray(element["high"])[None], self.multiple)
    return {**element, "low": low[0], "high": high[0], "size": np.asarray(size, np.int32)}


class _Select(grain.transforms.Map):
  """Position i of this shard -> the source element, with its valid flag."""

  def __init__(self, source, indices: list[int], valid: list[bool]):
    self.source, self.indices, self.valid = source, indices, valid

  def map(self, i):
    return {**self.source[self.indices[i]], "valid": self.valid[i]}


def eval_dataset(source: Sequence[Mapping[str, Any]], *, multiple: int,
                 tokenizer: Tokenizer | None, shard: Shard = Shard()) -> grain.MapDataset:
  """One padded example per element, this process's shard, equal-length shards.

  Elements added to even out shards repeat the shard's last example with
  `valid=False`; metrics must skip them.
  """
  n = len(source)
  per_shard = math.ceil(n / shard.count)
  indices = list(range(shard.index, n, shard.count))
  if not indices:
    raise ValueError(f"{n} eval examples cannot feed {shard.count} processes")
  valid = [True] * len(indices) + [False] * (per_shard - len(indices))
  indices += [indices[-1]] * (per_shard - len(indices))

  ds = grain.MapDataset.range(per_shard).map(_Select(source, indices, valid))
  ds = ds.map(DecodeText()).map(PadForEval(multiple))
  if tokenizer is not None:
    ds = ds.map(Tokenize(tokenizer))
  return ds
