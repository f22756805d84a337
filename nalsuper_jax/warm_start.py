"""Fine-tuning: a training run that starts from trained weights.

`config.train.init_from` names where the first step's weights come from:

  None          random initialisation (the paper's recipe);
  "shipped"     the photo model inside the package (`shipped.SHIPPED_DIR`);
  "demo_start"  the package's pretraining that `make demo` starts from
                (`shipped.DEMO_START_DIR`: it never saw the demo's photos);
  <folder>      a shipped model (model.safetensors + config.json, what
                `python -m nalsuper_jax.enhance.ship` writes) or a training
                workdir (its latest checkpoint's evaluated weights: the EMA
                when that run kept one).

Only the weights carry over; the step, the optimizer state and the learning
rate schedule start afresh. A run that resumes restores its own checkpoint,
so `init_from` counts only in a workdir without one. The source must build
the same network on the same text tower: anything else is refused with a
message naming the source's file and the first differences, before a step
runs (a partial load would train a silently different model).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections
import numpy as np
from etils import epath

from nalsuper_jax import checkpoints, shipped, tree_shapes
from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.text import LoadedTextEncoder

SHIPPED = "shipped"
DEMO_START = "demo_start"
# The names `init_from` takes for the models inside the package.
PACKAGED = {SHIPPED: shipped.SHIPPED_DIR, DEMO_START: shipped.DEMO_START_DIR}
# Text settings that change what the image network reads from a caption.
TEXT_FIELDS = ("checkpoint", "normalize_sentence")


def source_folder(init_from: str) -> epath.Path:
  """The folder `config.train.init_from` names (local or gs://...)."""
  if init_from in PACKAGED:
    return epath.Path(PACKAGED[init_from])
  return checkpoints.workdir_path(init_from)


def _read(folder: epath.Path, config: ml_collections.ConfigDict,
          text: LoadedTextEncoder | None) -> tuple[ml_collections.ConfigDict, Any, Any, str]:
  """(source config, image params, text params, what was read) of a shipped
  model or a training workdir, refused before any weights are read when its
  text tower is not `config`'s (then `text`, already loaded, serves both)."""
  is_shipped = (folder / shipped.WEIGHTS_FILE).is_file()
  if is_shipped:
    where = str(folder / shipped.WEIGHTS_FILE)
  elif (folder / checkpoints.CHECKPOINT_DIR).is_dir():
    where = str(folder / checkpoints.CHECKPOINT_DIR)
  else:
    raise CheckpointError(
        f"config.train.init_from={os.fspath(folder)!r}: neither a shipped model "
        f"({shipped.WEIGHTS_FILE} + {shipped.CONFIG_FILE}) nor a training workdir "
        f"({checkpoints.CHECKPOINT_DIR}/); expected one of {sorted(PACKAGED)} or one of "
        "those folders")
  source = checkpoints.read_config(folder)
  text_changes = [f"config.text.{f}: {source.text.get(f)} -> {config.text.get(f)}"
                  for f in TEXT_FIELDS if source.text.get(f) != config.text.get(f)]
  if text_changes:
    raise CheckpointError(f"config.train.init_from: {where} was trained on another text "
                          f"tower ({'; '.join(text_changes)})")
  if is_shipped:
    source, _, _, image, text_params, _ = shipped.load(folder, text)
    return source, image, text_params, where
  _, _, image, text_params, step = checkpoints.restore_params(source, folder, "latest", text)
  return source, image, text_params, f"{where}/{step}"


def load(config: ml_collections.ConfigDict, expected: dict,
         text: LoadedTextEncoder | None = None) -> dict:
  """The starting params for `config`, shaped like `expected` (the unboxed
  tree `checkpoints.init_params_fn` builds: "image", and "text" when the
  tower trains), as float NumPy arrays on the host. `text`: `config`'s
  tower when the caller has loaded it (it is then not loaded again)."""
  folder = source_folder(config.train.init_from)
  source, image, text_params, where = _read(folder, config, text)
  params = {"image": image}
  if "text" in expected:
    params["text"] = text_params
  bad = [f"{d.path} missing" if d.found is None else f"{d.path} unexpected" if d.expected is None
         else f"{d.path} {d.found} (this network: {d.expected})"
         for d in tree_shapes.differences(params, expected)]
  if bad:
    model_changes = [c for c in checkpoints.config_differences(source.to_dict(),
                                                               config.to_dict())
                     if c.startswith("config.model.")]
    raise CheckpointError(
        f"config.train.init_from: {where} holds another network: {len(bad)} "
        f"difference(s), e.g. {'; '.join(bad[:3])}"
        + (f" (its config: {'; '.join(model_changes[:4])})" if model_changes else ""))
  return jax.tree.map(lambda v, e: np.asarray(v, e.dtype), params, expected)
