"""Host-side tokenization with `transformers` tokenizers (Rust, no torch)."""

from __future__ import annotations

import pathlib
from typing import Sequence

import numpy as np


class Tokenizer:
  """Pads/truncates captions to a fixed length so shapes never change."""

  def __init__(self, hf_tokenizer, max_len: int):
    if max_len < 2:
      raise ValueError(f"max_text_len must be >= 2, got {max_len}")
    self.hf = hf_tokenizer
    self.max_len = max_len

  @classmethod
  def from_folder(cls, folder: str | pathlib.Path, max_len: int) -> "Tokenizer":
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
