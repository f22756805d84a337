"""Host-side tokenization with `transformers` tokenizers (Rust, no torch)."""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np


MIN_LEN = 2  # a start and an end token: the shortest sequence any encoder reads


def check_max_len(max_len: int) -> None:
  """Raises ValueError unless `max_len` holds at least the special tokens."""
  if max_len < MIN_LEN:
    raise ValueError(f"max_len={max_len} must be >= {MIN_LEN} (the start and end tokens)")


class Tokenizer:
  """Pads/truncates captions to a fixed length so shapes never change."""

  def __init__(self, hf_tokenizer, max_len: int):
    check_max_len(max_len)
    self.hf = hf_tokenizer
    self.max_len = max_len

  @classmethod
  def from_folder(cls, folder: str | pathlib.Path, max_len: int) -> "Tokenizer":
    # transformers takes seconds to import; only loading a tokenizer needs it.
    from transformers import AutoTokenizer  # pylint: disable=import-outside-toplevel
    try:
      hf = AutoTokenizer.from_pretrained(str(folder))
    except Exception as e:
      raise ValueError(f"no usable tokenizer files in {str(folder)!r} "
                       f"(tokenizer.json, or vocab.txt / vocab.json+merges.txt): {e}") from e
    return cls(hf, max_len)

  def __call__(self, texts: Sequence[str] | str) -> tuple[np.ndarray, np.ndarray]:
    """Returns ids int32 [B, max_len] and mask bool [B, max_len]."""
    if isinstance(texts, str):
      texts = [texts]
    out = self.hf(list(texts), padding="max_length", truncation=True,
                  max_length=self.max_len, return_attention_mask=True)
    ids = np.asarray(out["input_ids"], np.int32)
    mask = np.asarray(out["attention_mask"], bool)
    return ids, mask

  def length(self, text: str) -> int:
    """Tokens in `text` with the special ones, before truncation to `max_len`."""
    return len(self.hf(text, truncation=False)["input_ids"])
