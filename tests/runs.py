"""Training runs in tests: the tiny config on the embedded data, and what a run saved."""

import json
import os
import pathlib
import subprocess
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

from configs import tiny
from nalsuper_jax import checkpoints, sharding, train


def host_devices_env(count: int) -> dict[str, str]:
  """This environment for a subprocess whose CPU shows `count` devices; the
  suite's own XLA_FLAGS (conftest) are kept, so it compiles as the tests do."""
  return dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
              f"--xla_force_host_platform_device_count={count}")


def config(data_dir: str, **train_overrides):
  """`configs/tiny.py` on the test dataset, with `config.train` overrides."""
  cfg = tiny.get_config()
  cfg.data.data_dir = data_dir
  cfg.train.update(train_overrides)
  return cfg


# What `trained_config` sets beyond `config`: every step's losses and example names
# logged. As main.py flags in TRAINED_FLAGS.
TRAINED = {"train.log_every": 1, "data.log_names": True}
TRAINED_FLAGS = tuple(f"--config.{field}={value}" for field, value in TRAINED.items())


def trained_config(data_dir: str, **train_overrides):
  """The config of conftest's shared `trained_run`: `config` plus `TRAINED`, so
  that the run is also the one-process baseline the two-process test compares
  curves and batches with. Tests that copy the run and resume it use this (an
  unchanged config is part of what they check)."""
  cfg = config(data_dir)
  for field, value in TRAINED.items():
    section, name = field.split(".")
    cfg[section][name] = value
  cfg.train.update(train_overrides)
  return cfg


# The device-count comparison's forced host devices: the tiny config's batch of 4
# splits over them, and 2 x 2 is an FSDP mesh with data parallelism beside it.
CURVE_DEVICES = 4


def curve_config(data_dir: str, fsdp: int = 1):
  """`trained_config` over `CURVE_DEVICES` devices (`fsdp` of them sharding the
  parameters): the same losses expected, so the one-device curve is
  `trained_run`'s. One save (Orbax copies each replica's slices)."""
  cfg = trained_config(data_dir)
  cfg.train.checkpoint_every = cfg.train.steps
  cfg.mesh.fsdp = fsdp
  cfg.sharding.fsdp = fsdp > 1
  return cfg


def loss_curve(workdir, steps: int) -> np.ndarray:
  """The total loss `metrics.jsonl` logged at steps 1..`steps` (a redone step
  counts by its last line; a missing step is a KeyError)."""
  metrics = train.read_metrics(workdir)
  return np.array([metrics[s]["loss/total"] for s in range(1, steps + 1)])


def final_params(workdir) -> tuple[int, dict]:
  """(latest step, its params as NumPy arrays), whatever devices wrote them."""
  step, state = saved_state(workdir)
  return step, state["params"]


def assert_same_final_params(workdir_a, workdir_b, step: int) -> None:
  """Both runs ended at `step` with the same parameter tree, bit for bit."""
  (step_a, a), (step_b, b) = final_params(workdir_a), final_params(workdir_b)
  assert step_a == step_b == step, (step_a, step_b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  jax.tree.map(np.testing.assert_array_equal, a, b)


def saved_state(workdir, step: int | None = None) -> tuple[int, dict]:
  """(step, the whole saved train state as NumPy arrays); the latest by default."""
  mgr = checkpoints.manager(checkpoints.workdir_path(pathlib.Path(workdir)),
                            tiny.get_config().train, read_only=True)
  step = mgr.latest_step() if step is None else step
  meta = mgr.item_metadata(step)["state"]
  as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), meta)
  restored = mgr.restore(step, args=ocp.args.Composite(
      state=ocp.args.PyTreeRestore(restore_args=as_numpy)))["state"]
  mgr.close()
  return step, restored


def perturbed_workdir(path: pathlib.Path, step: int = 7) -> pathlib.Path:
  """A workdir with a `tiny` network whose parameters are moved off their
  initialisation (so the zero-initialised text gates are open and prompts
  change the output), saved as a real checkpoint + config.json. No training."""
  config = tiny.get_config()
  model = checkpoints.build_model(config)
  text = checkpoints.build_text(config, model)
  tx, _ = train.make_optimizer(config.train)
  state = checkpoints.train_state_layout(config, model, text, tx,
                                         sharding.make_mesh(config.mesh)).initialise()
  leaves, treedef = jax.tree.flatten(state.params)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  noisy = [x + 0.05 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
  state = state.replace(params=jax.tree.unflatten(treedef, noisy))
  manager = checkpoints.manager(path, config.train)
  manager.save(step, args=ocp.args.Composite(state=ocp.args.PyTreeSave(state)), force=True)
  manager.wait_until_finished()
  manager.close()
  (path / checkpoints.CONFIG_FILE).write_text(json.dumps(config.to_dict(), default=str))
  return path


def wait_for_checkpoint(workdir, step: int, *procs: subprocess.Popen,
                        timeout: float = 600) -> None:
  """Returns once `<workdir>/checkpoints/<step>` exists (Orbax renames it into
  place when complete); fails with the output of a process that ended first."""
  deadline = time.time() + timeout
  path = pathlib.Path(workdir) / "checkpoints" / str(step)
  while not path.is_dir():
    for proc in procs:
      assert proc.poll() is None, proc.stdout.read()[-3000:]
    assert time.time() < deadline, f"no checkpoint {step} after {timeout}s"
    time.sleep(0.01)
