"""Training runs in tests: the tiny config on the embedded data, and what a run saved."""

import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp

from configs import tiny
from nalsuper_jax import checkpoints


def config(data_dir: str, **train_overrides):
  """`configs/tiny.py` on the test dataset, with `config.train` overrides."""
  cfg = tiny.get_config()
  cfg.data.data_dir = data_dir
  cfg.train.update(train_overrides)
  return cfg


def final_params(workdir) -> tuple[int, dict]:
  """(latest step, its params as NumPy arrays), whatever devices wrote them."""
  mgr = checkpoints.manager(checkpoints.workdir_path(pathlib.Path(workdir)),
                            tiny.get_config().train, read_only=True)
  step = mgr.latest_step()
  meta = mgr.item_metadata(step)["state"]
  as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), meta)
  restored = mgr.restore(step, args=ocp.args.Composite(
      state=ocp.args.PyTreeRestore(restore_args=as_numpy)))["state"]
  mgr.close()
  return step, restored["params"]
