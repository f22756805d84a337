"""The model shipped inside the package, so photos enhance without training.

`make pretrained` trains `configs/pretrained.py` and then writes, with
`write` (`python -m nalsuper_jax.enhance.ship`), into `SHIPPED_DIR`:

  model.safetensors  the evaluated weights (EMA when kept): the image network
                     under "image/...", and the text tower under "text/..."
                     only when training changed it (a frozen tower is loaded
                     from its own checkpoint, as in training);
  config.json        the training run's config, which rebuilds the network.

`DEMO_START_DIR` holds a second model in the same two files: the start
`make demo` fine-tunes from.

`load` checks both against the network the config builds (every shape, no
non-finite value) and refuses with a message naming the file; it never
builds an optimizer. `Enhancer.pretrained()` and `nalsuper-enhance` without
`--workdir` use it.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import jax
import ml_collections
import numpy as np
import safetensors.numpy
from etils import epath
from flax import traverse_util

from nalsuper_jax import checkpoints, files, tree_shapes
from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.models import NaLSuper
from nalsuper_jax.text import LoadedTextEncoder

SHIPPED_DIR = pathlib.Path(__file__).with_name("weights")
# The demo's start (`make demo`: `train.init_from="demo_start"`), beside the photo
# model: a pretraining on real photos that never saw the demo's held-out or test
# photos, which the photo model's training set includes (its README.md says why).
DEMO_START_DIR = SHIPPED_DIR / "demo_start"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = checkpoints.CONFIG_FILE   # the same file a training workdir holds
MAX_BYTES = 20 * 2**20   # what a pip wheel can carry comfortably (issue #14: at most 20 MB)
_SEP = "/"


def write(out: str | os.PathLike, config: ml_collections.ConfigDict, image_params: Any,
          text_params: Any | None, metadata: dict[str, str]) -> pathlib.Path:
  """Writes weights + config atomically; refuses weights over MAX_BYTES."""
  out = pathlib.Path(out)
  tree = {"image": image_params} | ({"text": text_params} if text_params is not None else {})
  flat = {_SEP.join(k): np.ascontiguousarray(np.asarray(v, np.float32))
          for k, v in traverse_util.flatten_dict(jax.device_get(tree)).items()}
  data = _canonical(safetensors.numpy.save(flat, metadata={k: str(v) for k, v in metadata.items()}))
  if len(data) > MAX_BYTES:
    raise ValueError(f"{out / WEIGHTS_FILE}: {len(data) / 2**20:.1f} MiB of weights; the "
                     f"shipped model must stay under {MAX_BYTES / 2**20:.0f} MiB")
  checkpoints.write_config(epath.Path(out), config)
  files.write_atomic(out / WEIGHTS_FILE, data)
  return out / WEIGHTS_FILE


def _canonical(data: bytes) -> bytes:
  """The same safetensors file with its JSON header's keys sorted.

  safetensors writes the metadata map in a hash order that changes from one
  process to the next, so the same weights gave different bytes (and a
  spurious diff of the committed file). The format allows any key order and
  pads the header with spaces to a multiple of 8 bytes; tensor offsets are
  relative to the data, so only the header changes.
  """
  size = int.from_bytes(data[:8], "little")
  header = json.dumps(json.loads(data[8:8 + size]), sort_keys=True, separators=(",", ":"))
  header += " " * (-len(header) % 8)
  return len(header).to_bytes(8, "little") + header.encode() + data[8 + size:]


def _read(directory: pathlib.Path) -> tuple[ml_collections.ConfigDict, dict[str, np.ndarray],
                                             dict[str, str]]:
  weights, config_path = directory / WEIGHTS_FILE, directory / CONFIG_FILE
  if not weights.is_file() or not config_path.is_file():
    raise CheckpointError(f"{directory}: no shipped model ({WEIGHTS_FILE} and {CONFIG_FILE}); "
                          "train one with `make pretrained`, or pass --workdir")
  config = checkpoints.read_config(directory)
  try:
    flat = safetensors.numpy.load(weights.read_bytes())
    with safetensors.safe_open(str(weights), framework="numpy") as f:
      metadata = f.metadata() or {}
  except Exception as e:  # pylint: disable=broad-except  # truncated or corrupt file
    raise CheckpointError(f"{weights}: not a readable safetensors file ({e})") from None
  return config, flat, metadata


def load(directory: str | os.PathLike, text: LoadedTextEncoder | None = None) -> tuple[
    ml_collections.ConfigDict, NaLSuper, LoadedTextEncoder | None, Any, Any, dict[str, str]]:
  """(config, model, text, image params, text params, metadata) of a shipped model.

  `text`: the tower its config's `config.text` names, when the caller has it
  loaded already (a fine-tuning start), so it is not read twice.
  """
  directory = pathlib.Path(directory)
  config, flat, metadata = _read(directory)
  where = directory / WEIGHTS_FILE
  try:
    model = checkpoints.build_model(config)
  except (ValueError, KeyError, TypeError) as e:
    raise CheckpointError(f"{directory / CONFIG_FILE}: not a NaLSuper config ({e})") from None
  text = checkpoints.build_text(config, model, text)
  expected = checkpoints.abstract_params(config, model, text)
  tree = traverse_util.unflatten_dict({tuple(k.split(_SEP)): v for k, v in flat.items()})
  if "text" not in tree:  # a frozen tower is not stored: its weights come from its checkpoint
    expected = {k: v for k, v in expected.items() if k != "text"}
  bad = tree_shapes.differences(tree, expected)
  if bad:
    d = bad[0]
    state = ("missing" if d.found is None else "unexpected" if d.expected is None
             else f"shape {d.found}; the config's network expects {d.expected}")
    raise CheckpointError(f"{where}: does not match {directory / CONFIG_FILE}: {d.path} "
                          f"{state}{f' (and {len(bad) - 1} more)' if len(bad) > 1 else ''}")
  for key, array in flat.items():
    if not np.isfinite(array).all():
      raise CheckpointError(f"{where}: {key} holds non-finite values; refusing to use it")
  text_params = tree.get("text", text.params if text is not None else None)
  return config, model, text, tree["image"], text_params, metadata
