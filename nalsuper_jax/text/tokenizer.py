"""Host-side tokenization: Hugging Face tokenizer files, read without torch.

A folder with `tokenizer.json` and a stated pad token is read by the Rust
`tokenizers` library directly (milliseconds); importing `transformers` costs
seconds in every process (and pulls torch where it is installed), which a
one-photo `nalsuper-enhance` would wait for. Other folders (only `vocab.txt`,
or `vocab.json` + `merges.txt`) go through `transformers.AutoTokenizer`,
which converts them. Both give the same ids (tests/text_parity_test.py).
"""

from __future__ import annotations

import json
import pathlib
import shutil
from typing import Any, Sequence

import numpy as np
import tokenizers


MIN_LEN = 2  # a start and an end token: the shortest sequence any encoder reads
# The files of a Hugging Face tokenizer folder that `save_pretrained` copies.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt")


def check_max_len(max_len: int) -> None:
  """Raises ValueError unless `max_len` holds at least the special tokens."""
  if max_len < MIN_LEN:
    raise ValueError(f"max_len={max_len} must be >= {MIN_LEN} (the start and end tokens)")


def _token(value: Any) -> str | None:
  """A special token as tokenizer_config.json writes it: a string or {"content": ...}."""
  return value.get("content") if isinstance(value, dict) else value


def _stated(folder: pathlib.Path) -> dict[str, Any]:
  """tokenizer_config.json over special_tokens_map.json (what transformers reads)."""
  out: dict[str, Any] = {}
  for name in ("special_tokens_map.json", "tokenizer_config.json"):
    path = folder / name
    if path.is_file():
      out.update(json.loads(path.read_text()))
  return out


class _Rust:
  """tokenizer.json through `tokenizers`, padded/truncated like transformers does."""

  def __init__(self, folder: pathlib.Path, max_len: int, stated: dict[str, Any]):
    self.folder = folder
    self.plain = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    self.plain.no_truncation()
    self.plain.no_padding()
    self.fixed = tokenizers.Tokenizer.from_str(self.plain.to_str())
    pad = _token(stated["pad_token"])
    pad_id = self.fixed.token_to_id(pad)
    if pad_id is None:
      raise ValueError(f"pad token {pad!r} is not in the vocabulary")
    self.fixed.enable_truncation(max_len, direction=stated.get("truncation_side", "right"))
    self.fixed.enable_padding(direction=stated.get("padding_side", "right"), pad_id=pad_id,
                              pad_token=pad, length=max_len)

  def encode(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    out = self.fixed.encode_batch(texts)
    return [e.ids for e in out], [e.attention_mask for e in out]

  def length(self, text: str) -> int:
    return len(self.plain.encode(text).ids)

  def save_pretrained(self, folder: str | pathlib.Path) -> None:
    pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
      if (self.folder / name).is_file():
        shutil.copyfile(self.folder / name, pathlib.Path(folder) / name)


class _Transformers:
  """Any folder `transformers.AutoTokenizer` reads (it converts slow vocabularies)."""

  def __init__(self, folder: pathlib.Path, max_len: int):
    # Deferred: transformers takes seconds to import; only these folders need it.
    from transformers import AutoTokenizer  # pylint: disable=import-outside-toplevel
    self.hf = AutoTokenizer.from_pretrained(str(folder))
    self.max_len = max_len

  def encode(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    out = self.hf(texts, padding="max_length", truncation=True, max_length=self.max_len,
                  return_attention_mask=True)
    return out["input_ids"], out["attention_mask"]

  def length(self, text: str) -> int:
    return len(self.hf(text, truncation=False)["input_ids"])

  def save_pretrained(self, folder: str | pathlib.Path) -> None:
    self.hf.save_pretrained(str(folder))


class Tokenizer:
  """Pads/truncates captions to a fixed length so shapes never change."""

  def __init__(self, backend: _Rust | _Transformers, max_len: int):
    check_max_len(max_len)
    self.backend = backend
    self.max_len = max_len

  @classmethod
  def from_folder(cls, folder: str | pathlib.Path, max_len: int) -> "Tokenizer":
    check_max_len(max_len)
    folder = pathlib.Path(folder)
    try:
      stated = _stated(folder)
      if (folder / "tokenizer.json").is_file() and _token(stated.get("pad_token")):
        return cls(_Rust(folder, max_len, stated), max_len)
      return cls(_Transformers(folder, max_len), max_len)
    except Exception as e:
      raise ValueError(f"no usable tokenizer files in {str(folder)!r} "
                       f"(tokenizer.json, or vocab.txt / vocab.json+merges.txt): {e}") from e

  def __call__(self, texts: Sequence[str] | str) -> tuple[np.ndarray, np.ndarray]:
    """Returns ids int32 [B, max_len] and mask bool [B, max_len]."""
    if isinstance(texts, str):
      texts = [texts]
    ids, mask = self.backend.encode(list(texts))
    return np.asarray(ids, np.int32), np.asarray(mask, bool)

  def length(self, text: str) -> int:
    """Tokens in `text` with the special ones, before truncation to `max_len`."""
    return self.backend.length(text)

  def save_pretrained(self, folder: str | pathlib.Path) -> None:
    """Writes files `transformers.AutoTokenizer.from_pretrained` reads back."""
    self.backend.save_pretrained(folder)
