"""Frozen text features computed once per distinct caption (ARCHITECTURE.md section 2).

A frozen text tower maps the same token ids to the same features, and training
captions repeat (a paired dataset has one caption per image, seen every epoch;
the demo's augmented captions come from a small vocabulary), so the trainer need
not run the tower inside every train step: `FeatureCache` encodes each caption it
has not seen once, outside the step, and the step receives the features instead
of the token ids (`train.batch_text_features`). The cache holds at most
`config.text.cache_captions` captions, least recently used dropped first.

Each caption is encoded alone, by one [1, max_len] program compiled once, so its
features never depend on which other captions were new in the same batch: a
resumed run, whose cache starts empty, sees bit-identical features.

Features stay on the device and are never waited for: XLA's CPU client runs
programs one after another, so reading a new caption's features back to the
host would hold the loop until the train step before it had finished, and the
host's work for the next step (reading, transfer, dispatch) would no longer
overlap the running step.
"""

from __future__ import annotations

import collections
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from nalsuper_jax.text.encoder import LoadedTextEncoder, apply_encoder
from nalsuper_jax.text.features import TextFeatures

# Batch keys of cached features; they replace `ids` and `mask` (the tokenizer's).
FEATURE_KEYS = ("words", "word_mask", "sentence")


def check_cache_captions(cache_captions: int) -> None:
  """Raises ValueError unless `cache_captions` is a count >= 0 (0: no cache)."""
  if isinstance(cache_captions, bool) or not isinstance(cache_captions, int) or cache_captions < 0:
    raise ValueError(f"cache_captions={cache_captions!r} must be an integer >= 0 "
                     "(0: the frozen tower runs inside every train step)")


class FeatureCache:
  """Caption (token ids + mask) -> frozen features, encoded on first sight."""

  def __init__(self, text: LoadedTextEncoder, max_captions: int):
    check_cache_captions(max_captions)
    if max_captions == 0:
      raise ValueError("a FeatureCache needs max_captions >= 1")
    self.max_captions = max_captions
    self.hits = 0
    self.misses = 0
    self._params = text.params
    self._module = text.module
    # Caption key -> its features, each [1, ...] on the device.
    self._entries: collections.OrderedDict[bytes, tuple[jax.Array, ...]] = (
        collections.OrderedDict())

  def __len__(self) -> int:
    return len(self._entries)

  def _features(self, ids: np.ndarray, mask: np.ndarray) -> tuple[jax.Array, ...]:
    key = ids.tobytes() + np.packbits(mask).tobytes()
    entry = self._entries.get(key)
    if entry is not None:
      self.hits += 1
      self._entries.move_to_end(key)
      return entry
    self.misses += 1
    # Dispatched only, not waited for.
    entry = tuple(apply_encoder(self._module, self._params, ids[None], mask[None]))
    self._entries[key] = entry
    if len(self._entries) > self.max_captions:
      self._entries.popitem(last=False)
    return entry

  def encode(self, ids: np.ndarray, mask: np.ndarray) -> TextFeatures:
    """Features of a [B, L] batch of token ids, as device arrays (dispatched,
    not waited for; see the module docstring)."""
    rows = [self._features(np.asarray(i, np.int32), np.asarray(m, bool))
            for i, m in zip(ids, mask)]
    return TextFeatures(*(jnp.concatenate(column) for column in zip(*rows)))

  def replace_tokens(self, batch: Mapping[str, Any]) -> dict[str, Any]:
    """A batch with `ids`/`mask` replaced by their features (`FEATURE_KEYS`)."""
    out = {k: v for k, v in batch.items() if k not in ("ids", "mask")}
    return out | dict(zip(FEATURE_KEYS, self.encode(batch["ids"], batch["mask"])))
