"""The text representation the image network consumes."""

from __future__ import annotations

from typing import NamedTuple

import jax


class TextFeatures(NamedTuple):
  """Word- and sentence-level caption features (a pytree).

  words: [B, L, Dw] per-token states; mask: [B, L] bool, True for real
  tokens; sentence: [B, Ds] one vector per caption. Dw and Ds may differ
  (CLIP projects the sentence vector, BERT does not).
  """
  words: jax.Array
  mask: jax.Array
  sentence: jax.Array
