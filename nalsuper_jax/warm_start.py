"""Fine-tuning: a training run that starts from trained weights.

`config.train.init_from` names where the first step's weights come from:

  None        random initialisation (the paper's recipe);
  "shipped"   the model inside the package (`shipped.SHIPPED_DIR`);
  <folder>    a shipped model (model.safetensors + config.json, what
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

SHIPPED = "shipped"
# Text settings that change what the image network reads from a caption.
TEXT_FIELDS = ("checkpoint", "normalize_sentence")


def source_folder(init_from: str) -> epath.Path:
  """The folder `config.train.init_from` names (local or gs://...)."""
  return epath.Path(shipped.SHIPPED_DIR) if init_from == SHIPPED else (
      checkpoints.workdir_path(init_from))


def _read(folder: epath.Path) -> tuple[ml_collections.ConfigDict, Any, Any, str]:
  """(source config, image params, text params, what was read) of a shipped
  model or a training workdir."""
  if (folder / shipped.WEIGHTS_FILE).is_file():
    config, _, _, image, text, _ = shipped.load(folder)
    return config, image, text, str(folder / shipped.WEIGHTS_FILE)
  if (folder / checkpoints.CHECKPOINT_DIR).is_dir():
    config = checkpoints.read_config(folder)
    _, _, image, text, step = checkpoints.restore_params(config, folder, "latest")
    return config, image, text, f"{folder / checkpoints.CHECKPOINT_DIR}/{step}"
  raise CheckpointError(
      f"config.train.init_from={os.fspath(folder)!r}: neither a shipped model "
      f"({shipped.WEIGHTS_FILE} + {shipped.CONFIG_FILE}) nor a training workdir "
      f"({checkpoints.CHECKPOINT_DIR}/); expected {SHIPPED!r} or one of those folders")


def load(config: ml_collections.ConfigDict, expected: dict) -> dict:
  """The starting params for `config`, shaped like `expected` (the unboxed
  tree `checkpoints.init_params_fn` builds: "image", and "text" when the
  tower trains), as float NumPy arrays on the host."""
  folder = source_folder(config.train.init_from)
  source, image, text, where = _read(folder)
  text_changes = [f"config.text.{f}: {source.text.get(f)} -> {config.text.get(f)}"
                  for f in TEXT_FIELDS if source.text.get(f) != config.text.get(f)]
  if text_changes:
    raise CheckpointError(f"config.train.init_from: {where} was trained on another text "
                          f"tower ({'; '.join(text_changes)})")
  params = {"image": image}
  if "text" in expected:
    params["text"] = text
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
