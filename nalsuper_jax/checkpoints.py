"""Checkpoints: the train state, the Orbax manager, saving, and two restores.

A checkpoint step holds `state` (params, optimizer state, step, EMA),
`data` (the grain iterator position) and `config` (the resolved config).
Orbax decides when to save (`manager`'s policies: the interval, eval steps,
the final step, SIGTERM and multi-host preemption) and what to keep (the
latest `keep_checkpoints` plus the best by eval PSNR).

Two ways back:
- `restore_train_state` (training) restores the whole state and the data
  position, compares the parameter tree with the model built from the new
  config before anything is touched, and falls back to the newest earlier
  checkpoint when one is unreadable or holds non-finite numbers.
- `restore_params` (evaluation, `Enhancer`, export) restores only the
  parameters (or their EMA) into `jax.eval_shape` targets: no optimizer is
  built.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import logging
import os
import pathlib
import shutil
import sys
from typing import Any, Callable, Sequence

import flax
import flax.linen as nn
import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from etils import epath
from flax import traverse_util

from nalsuper_jax import files, sharding, tree_shapes
from nalsuper_jax.models import NaLSuper, NaLSuperConfig
from nalsuper_jax.text import LoadedTextEncoder, apply_encoder, load_text_encoder

log = logging.getLogger("nalsuper_jax.checkpoints")

CHECKPOINT_DIR = "checkpoints"      # <workdir>/checkpoints/<step>/
CORRUPT_DIR = "checkpoints_corrupt"  # bad steps are moved here, never deleted
CONFIG_FILE = "config.json"         # the resolved config of the run
BEST_METRIC = "psnr"                # eval metric that picks the best checkpoint (higher wins)
# A restored leaf whose fingerprint (sum |x|, sum x^2) moved by more than this,
# relative, was damaged on disk. Far above float32 summation-order noise (a
# restore onto another topology reduces in another order), far below any
# real corruption (a flipped exponent bit changes a value by 2^k).
FINGERPRINT_RTOL = 1e-4


# Bytes kept free beyond a checkpoint's arrays (metadata, the grain state,
# the config, metrics and TensorBoard files written meanwhile).
SAVE_HEADROOM_BYTES = 4 << 20


class CheckpointError(RuntimeError):
  """A checkpoint is missing, unreadable, non-finite or does not fit the model."""


class WorkdirFull(CheckpointError):
  """A checkpoint cannot be written (no space); the earlier ones are intact."""


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any          # {"image": ...} (+ {"text": ...} when the text tower trains)
  opt_state: Any
  ema: Any             # EMA of params (what evaluates), or None


# ----------------------------------------------------------------------------
# Workdir, config and model
# ----------------------------------------------------------------------------
def workdir_path(workdir: str | os.PathLike) -> epath.Path:
  """Local workdirs become absolute (Orbax requires it); gs:// etc. stay as they are."""
  text = os.fspath(workdir)
  if "://" in text:
    return epath.Path(text)
  return epath.Path(os.path.abspath(os.path.expanduser(text)))


def write_config(workdir: epath.Path, config: ml_collections.ConfigDict) -> None:
  """`<workdir>/config.json` (process 0, atomically)."""
  if jax.process_index() == 0:
    files.write_atomic(workdir / CONFIG_FILE, json.dumps(config.to_dict(), indent=2, default=str) + "\n")


def read_config(workdir: str | os.PathLike) -> ml_collections.ConfigDict:
  """The resolved config a training run wrote into its workdir."""
  path = workdir_path(workdir) / CONFIG_FILE
  try:
    values = json.loads(path.read_text())
  except FileNotFoundError:
    raise CheckpointError(f"{path}: no {CONFIG_FILE}; is {workdir} a training workdir "
                          "(python main.py ... --workdir=...)?") from None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise CheckpointError(f"{path}: not valid JSON ({e})") from None
  return ml_collections.ConfigDict(values)


def _with_resolved_model(config: dict) -> dict:
  """The model section with the size's widths made explicit (None -> the value)."""
  try:
    return {**config, "model": NaLSuperConfig.from_config(config["model"]).resolved()}
  except (KeyError, TypeError, ValueError):
    return config


def config_differences(old: dict, new: dict) -> list[str]:
  """`config.<field>: old -> new` for every leaf that differs (flattened).

  A field one side lacks and the other holds as None is no difference: a
  field added since (e.g. `train.init_from`) at a default that changes nothing.
  """
  flat_old = traverse_util.flatten_dict(_with_resolved_model(old), sep=".")
  flat_new = traverse_util.flatten_dict(_with_resolved_model(new), sep=".")
  out = []
  for key in sorted(set(flat_old) | set(flat_new)):
    a, b = flat_old.get(key, "<absent>"), flat_new.get(key, "<absent>")
    a_text, b_text = json.dumps(a, default=str), json.dumps(b, default=str)
    if a_text != b_text and {a_text, b_text} != {'"<absent>"', "null"}:
      out.append(f"config.{key}: {a} -> {b}")
  return out


def build_model(config: ml_collections.ConfigDict) -> NaLSuper:
  return NaLSuper(NaLSuperConfig.from_config(config.model))


def build_text(config: ml_collections.ConfigDict, model: NaLSuper,
               loaded: LoadedTextEncoder | None = None) -> LoadedTextEncoder | None:
  """The text tower, or None for text-free ablations (no FiLM, no TCM).
  `loaded`: the tower of `config.text` when the caller has it already (a
  fine-tuning start), returned instead of reading it again."""
  if not model.config.uses_text:
    return None
  return loaded if loaded is not None else load_text_encoder(config.text)


@functools.partial(jax.jit, static_argnums=0)
def _init_image(model: NaLSuper, rng: jax.Array, low: jax.Array, feats: Any) -> dict:
  """The network's boxed params, jitted with `model` static (a hashable Flax
  dataclass): the layouts, shapes and init programs of one config share one
  trace of the network per process instead of one per closure."""
  return model.init(rng, low, feats)["params"]


def init_params_fn(config: ml_collections.ConfigDict, model: NaLSuper,
                   text: LoadedTextEncoder | None) -> Callable[[jax.Array, Any], dict]:
  """(rng, text params or None) -> {"image": boxed params (+ "text" when the tower trains)}.

  The text weights are an argument, not a closure: closed over, `jax.jit` bakes
  the frozen tower into the init program as constants (83 MB of executable for
  MiniLM), which every process compiles or loads again.
  """
  m = model.config.multiple
  trainable_text = bool(config.text.trainable) and text is not None

  def init(rng, text_params):
    feats = None
    if text is not None:
      ids = jnp.zeros((1, 2), jnp.int32)
      feats = apply_encoder(text.module, text_params, ids, jnp.ones((1, 2), bool))
    params = {"image": _init_image(model, rng, jnp.zeros((1, m, m, 3), jnp.float32), feats)}
    if trainable_text:
      params["text"] = text_params
    return params
  return init


def abstract_params(config: ml_collections.ConfigDict, model: NaLSuper,
                    text: LoadedTextEncoder | None) -> dict:
  """Shapes and dtypes of `init_params_fn`'s params, unboxed; nothing computed."""
  init = init_params_fn(config, model, text)
  return jax.eval_shape(lambda: nn.meta.unbox(
      init(jax.random.key(0), None if text is None else text.params)))


# Compiler options for the one-off init program: XLA's CPU backend spends most
# of its time optimising the dozens of inlined random-number generators (~30 s
# for the tiny config on 2 cores, ~10 s unoptimised); the program runs once, so
# its own speed does not matter.
INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0,
                         "xla_llvm_disable_expensive_passes": True}


@dataclasses.dataclass(frozen=True)
class StateLayout:
  """What a train state looks like before any array exists.

  `abstract`: shape/dtype/sharding structs (what Orbax restores into);
  `shardings`: the NamedSharding tree; `initialise()` builds a fresh state
  directly into those shardings; `start_from(params)` builds step 0's state
  around given host params (fine-tuning, `warm_start`): fresh optimizer
  state, the EMA starting at them. A resume calls neither, so it compiles no
  init program.
  """
  abstract: Any
  shardings: Any
  initialise: Callable[[], TrainState]
  start_from: Callable[[Any], TrainState]


def train_state_layout(config: ml_collections.ConfigDict, model: NaLSuper,
                       text: LoadedTextEncoder | None, tx: optax.GradientTransformation,
                       mesh: jax.sharding.Mesh) -> StateLayout:
  """The state's structure and shardings, and a function that initialises it."""
  init_params = init_params_fn(config, model, text)

  def around(params):
    ema = params if config.train.ema_decay else None
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params), ema=ema)

  def init(rng, frozen_or_trained_text):
    return around(init_params(rng, frozen_or_trained_text))

  rng, text_in = jax.random.key(config.seed), None if text is None else text.params
  boxed = jax.eval_shape(init, rng, text_in)
  shardings = sharding.param_shardings(boxed, mesh, sharding.rules(config.sharding))
  abstract = abstract_like(nn.meta.unbox(boxed), shardings)
  initialise = jax.jit(lambda r, t: nn.meta.unbox(init(r, t)), out_shardings=shardings,
                       compiler_options=INIT_COMPILER_OPTIONS)
  from_params = jax.jit(around, out_shardings=shardings)

  def start_from(params):  # host arrays -> global arrays laid out as training keeps them
    placed = jax.tree.map(lambda v, s: jax.make_array_from_callback(v.shape, s, v.__getitem__),
                          params, shardings.params)
    return from_params(placed)
  return StateLayout(abstract, shardings, lambda: initialise(rng, text_in), start_from)


def abstract_like(tree: Any, shardings: Any) -> Any:
  """Shape/dtype/sharding structs, the target Orbax restores into."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      tree, shardings)


# ----------------------------------------------------------------------------
# The manager: when to save, what to keep
# ----------------------------------------------------------------------------
class StopRequested:
  """A SIGTERM flag as an Orbax save policy: the next step saves, then the loop exits."""

  def __init__(self):
    self.requested = False

  def should_save(self, step, previous_steps, *, context) -> bool:  # SaveDecisionPolicy
    del step, previous_steps, context
    return self.requested


def manager(workdir: epath.Path, train: ml_collections.ConfigDict, *,
            stop: StopRequested | None = None, read_only: bool = False) -> ocp.CheckpointManager:
  """The one place that decides when to save and which checkpoints stay.

  Saves: every `checkpoint_every` steps, at every eval step (so its metrics
  are kept), at the final step, on SIGTERM (`stop`) and at a multi-host
  preemption sync point. Keeps: the latest `keep_checkpoints` plus the best
  by eval PSNR.
  """
  policies = ocp.checkpoint_managers
  save = [policies.FixedIntervalPolicy(train.checkpoint_every),
          policies.SpecificStepsPolicy((int(train.steps),)),
          policies.PreemptionCheckpointingPolicy()]
  if train.eval_every:
    save.append(policies.FixedIntervalPolicy(train.eval_every))
  if stop is not None:
    save.append(stop)
  options = ocp.CheckpointManagerOptions(
      save_decision_policy=policies.AnySavePolicy(save),
      preservation_policy=policies.AnyPreservationPolicy([
          policies.LatestN(n=train.keep_checkpoints),
          policies.BestN(get_metric_fn=lambda m: m[BEST_METRIC], reverse=False, n=1,
                         keep_checkpoints_without_metrics=False)]),
      best_fn=lambda m: m[BEST_METRIC], best_mode="max",
      enable_async_checkpointing=bool(train.async_checkpoints) and not read_only,
      read_only=read_only, create=not read_only, cleanup_tmp_directories=not read_only)
  # Handlers named up front so that metadata (shapes, before any restore) is readable.
  handlers = {"state": ocp.PyTreeCheckpointHandler(type_handler_registry=_registry()),
              "config": ocp.JsonCheckpointHandler(),
              "fingerprint": ocp.JsonCheckpointHandler(),
              "data": grain.checkpoint.CheckpointHandler()}
  return ocp.CheckpointManager(workdir / CHECKPOINT_DIR, options=options, item_handlers=handlers)


# Replica-parallel saving splits every replicated array across its replicas, so
# each writes a part; below this many bytes per part the split costs more than
# it saves (each part is an eager on-device slice, compiled per shape and
# device: ~13 s a save for the tiny config on 8 devices, most of it slicing).
REPLICA_PARALLEL_MIN_BYTES = 1 << 20


def _registry():
  """Orbax's default type handlers, with small arrays written by one replica."""
  registry = ocp.type_handlers.create_type_handler_registry(
      *[(t, ocp.type_handlers.get_type_handler(t)) for t in ocp.type_handlers.supported_types()])
  default = ocp.type_handlers.get_type_handler(jax.Array)
  registry.add(jax.Array, ocp.type_handlers.ArrayHandler(
      min_slice_bytes_for_replica_parallel=REPLICA_PARALLEL_MIN_BYTES,
      # The default handler's per-array metadata store (no public name): the same files.
      array_metadata_store=default._array_metadata_store),  # pylint: disable=protected-access
               override=True)
  return registry


def _local_bytes(tree: Any) -> int:
  """Bytes this process writes for `tree` (its own shards, one replica of each)."""
  total = 0
  for leaf in jax.tree.leaves(tree):
    if isinstance(leaf, jax.Array):
      total += sum(s.data.nbytes for s in leaf.addressable_shards if s.replica_id == 0)
    else:
      total += np.asarray(leaf).nbytes
  return total


def _no_space(error: BaseException) -> bool:
  """Whether an error from Orbax/TensorStore or the OS means the disk is full."""
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
    return True
  return "No space left on device" in str(error) or "Disk quota exceeded" in str(error)


def _full(mgr: ocp.CheckpointManager, what: str, detail: str) -> WorkdirFull:
  kept = mgr.latest_step()
  return WorkdirFull(
      f"{mgr.directory}: cannot save {what}: {detail}; the last good checkpoint "
      f"is {'step ' + str(kept) if kept is not None else 'none yet'} (kept). Free space and "
      "rerun the same command to resume")


def check_free_space(mgr: ocp.CheckpointManager, step: int, state: TrainState) -> None:
  """Raises WorkdirFull before a save that cannot fit on a local disk.

  A save that runs out of space half-way fails inside TensorStore's writer
  threads, one traceback per array (hundreds), and the real cause is lost;
  checking first leaves nothing half-written and says it in one line.
  """
  directory = os.fspath(mgr.directory)
  if "://" in directory:  # object stores report quota errors themselves
    return
  needed = _local_bytes(state) + SAVE_HEADROOM_BYTES
  free = shutil.disk_usage(directory).free
  if free < needed:
    raise _full(mgr, f"checkpoint {step}", f"{free / 2**20:.1f} MiB free on its disk, about "
                           f"{needed / 2**20:.1f} MiB needed")


def save(mgr: ocp.CheckpointManager, step: int, state: TrainState, iterator,
         config: ml_collections.ConfigDict, metrics: dict[str, float] | None = None) -> bool:
  """Saves if the manager's policies say so; returns whether it did.

  Raises WorkdirFull (one line) when the disk cannot hold the checkpoint,
  checked before writing, or when it filled up meanwhile.
  """
  check_free_space(mgr, step, state)
  args = ocp.args.Composite(
      state=ocp.args.PyTreeSave(state),
      fingerprint=ocp.args.JsonSave(fingerprint(state)),
      data=grain.checkpoint.CheckpointSave(iterator),
      config=ocp.args.JsonSave(config.to_dict()))
  try:
    return mgr.save(step, args=args, metrics=metrics)
  except Exception as e:  # pylint: disable=broad-except  # TensorStore raises ValueError
    if _no_space(e):
      raise _full(mgr, f"checkpoint {step}", "no space left on device") from None
    raise


def finish(mgr: ocp.CheckpointManager) -> None:
  """Waits for background saves; a disk that filled up is one line (WorkdirFull)."""
  try:
    mgr.wait_until_finished()
  except Exception as e:  # pylint: disable=broad-except
    if _no_space(e):
      raise _full(mgr, "a checkpoint", "no space left on device") from None
    raise


# ----------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------
def fingerprint(tree: Any) -> dict[str, list[float]]:
  """{leaf path: [sum |x|, sum x^2]} of every floating leaf, computed on device.

  Orbax stores no checksum, so a damaged data file can restore as finite
  garbage; comparing these two numbers per leaf after a restore catches it.
  """
  leaves = [(tree_shapes.leaf_path(p), x) for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]
            if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)]
  if not leaves:
    return {}
  sums = np.asarray(jax.device_get(_leaf_sums([x for _, x in leaves])))
  return {name: [float(a), float(b)] for (name, _), (a, b) in zip(leaves, sums)}


@jax.jit
def _leaf_sums(leaves: list[jax.Array]) -> jax.Array:
  """[leaves, 2]: sum |x| and sum x^2 per leaf, jitted once per tree structure (not
  per save). One array, so the host reads it in one transfer, not one per leaf."""
  return jnp.stack([jnp.stack([jnp.abs(x.astype(jnp.float32)).sum(),
                               jnp.square(x.astype(jnp.float32)).sum()]) for x in leaves])


def damaged_leaves(restored: Any, saved: dict[str, list[float]], prefix: str = "") -> list[str]:
  """Leaves of `restored` whose fingerprint differs from the saved one (or is non-finite)."""
  out = []
  for name, (absolute, square) in fingerprint(restored).items():
    expected = saved.get(prefix + name)
    if not (np.isfinite(absolute) and np.isfinite(square)):
      out.append(f"{prefix}{name} (non-finite values)")
    elif expected is not None and not np.allclose([absolute, square], expected,
                                                  rtol=FINGERPRINT_RTOL, atol=1e-30):
      out.append(f"{prefix}{name} (checksum differs from the one saved)")
  return out


def _saved_fingerprint(mgr: ocp.CheckpointManager, step: int) -> dict[str, list[float]]:
  """The fingerprint saved with a step ({} for checkpoints written without one)."""
  try:
    return dict(mgr.restore(step, args=ocp.args.Composite(
        fingerprint=ocp.args.JsonRestore()))["fingerprint"] or {})
  except (KeyError, ValueError, FileNotFoundError):
    return {}


def check_shapes(saved: Any, expected: Any, step: int, where: str,
                 differences: Callable[[], Sequence[str]] = tuple) -> None:
  """Raises one line naming the first parameter whose shape differs, with
  `differences()` (the config fields that changed; read only then) as a hint."""
  bad = tree_shapes.differences(saved, expected)
  if bad:
    changed = differences()
    hint = f"; the config differs from the saved one in {', '.join(changed)}" if changed else ""
    raise CheckpointError(
        f"{where}/{step}: parameter {bad[0].path} has shape {bad[0].found} in the checkpoint "
        f"but {bad[0].expected} in the model built from the config{hint}")


# ----------------------------------------------------------------------------
# Restores
# ----------------------------------------------------------------------------
def _pytree_restore(target: Any, partial: bool = False) -> ocp.args.PyTreeRestore:
  """Restore into `target`'s shapes, dtypes and shardings (only its keys if `partial`)."""
  return ocp.args.PyTreeRestore(item=target, partial_restore=partial,
                                restore_args=ocp.checkpoint_utils.construct_restore_args(target))


def _steps_newest_first(mgr: ocp.CheckpointManager) -> list[int]:
  return sorted(mgr.all_steps(), reverse=True)


def _quarantine(mgr: ocp.CheckpointManager, step: int) -> None:
  """Moves a bad step out of the manager's folder (kept for inspection, never reused)."""
  if jax.process_index() == 0:
    source = epath.Path(mgr.directory) / str(step)
    target = epath.Path(mgr.directory).parent / CORRUPT_DIR / str(step)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
      target.rmtree()
    source.rename(target)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # only multi-host runs need the barrier
    multihost_utils.sync_global_devices(f"quarantine checkpoint {step}")
  mgr.reload()


def restore_train_state(mgr: ocp.CheckpointManager, target: Any, iterator,
                        config: ml_collections.ConfigDict) -> tuple[TrainState | None, int]:
  """The newest good checkpoint's state (data position restored into `iterator`).

  Before anything changes, the saved parameter tree is compared with
  `target` (a shape mismatch is a `CheckpointError` naming the parameter and
  the config fields that changed). A step that fails to restore, holds
  non-finite numbers or no longer matches its saved checksums is reported, moved to `<workdir>/checkpoints_corrupt/`,
  and the next older one is tried. Returns (None, 0) when none is left.
  """
  where = mgr.directory
  for step in _steps_newest_first(mgr):
    try:
      state_meta = mgr.item_metadata(step)["state"]
    except Exception as e:  # pylint: disable=broad-except  # any unreadable metadata
      state_meta, failure = None, f"metadata unreadable ({_short(e)})"
    if state_meta is not None:
      check_shapes(state_meta["params"], target.params, step, where,
                   lambda step=step: config_differences(saved_config(mgr, step), config.to_dict()))
      try:
        restored = mgr.restore(step, args=ocp.args.Composite(
            state=_pytree_restore(target),
            data=grain.checkpoint.CheckpointRestore(iterator)))
        state = restored["state"]
        bad = damaged_leaves(state, _saved_fingerprint(mgr, step))
        if not bad:
          return state, step
        failure = f"{bad[0]}" + (f" and {len(bad) - 1} more" if len(bad) > 1 else "")
      except Exception as e:  # pylint: disable=broad-except  # TensorStore/IO/decode errors
        quiet_orphaned_reads()
        failure = f"restore failed ({_short(e)})"
    log.error("checkpoint %s/%d is bad: %s; moving it to %s and trying an older one",
              where, step, failure, CORRUPT_DIR)
    _quarantine(mgr, step)
  return None, 0


def _orphaned_read(unraisable: Any) -> bool:
  """Whether an unraisable exception is one a failed restore's leftover reads
  report: a read coroutine of Orbax's closed mid-read, or TensorStore's
  completion callback finding Orbax's event loop already closed."""
  code = getattr(unraisable.object, "cr_code", None)
  if code is not None:
    return "orbax" in pathlib.PurePath(code.co_filename).parts
  return (unraisable.object is None and isinstance(unraisable.exc_value, RuntimeError)
          and str(unraisable.exc_value) == "Event loop is closed")


def _drop_orphaned_reads(unraisable: Any, previous: Callable[[Any], None]) -> None:
  if not _orphaned_read(unraisable):
    previous(unraisable)


def quiet_orphaned_reads() -> None:
  """After a failed restore: drop what its leftover reads print later.

  When one read fails, Orbax (0.12.8, `asyncio_utils._run_sync_via_new_loop`)
  closes its event loop with the other reads in flight; as each finishes or
  is collected it prints a traceback through `sys.unraisablehook`, up to
  thousands of lines after our one-line error (the corrupt-checkpoint case).
  Only those are dropped; every other unraisable exception reaches the hook
  that was installed before. Idempotent.
  """
  if getattr(sys.unraisablehook, "func", None) is not _drop_orphaned_reads:
    sys.unraisablehook = functools.partial(_drop_orphaned_reads, previous=sys.unraisablehook)


# Where Orbax's read errors start dumping the TensorStore spec (a bound-method
# repr, then pages of JSON): nothing after it helps the one-line message.
_TENSORSTORE_DETAILS = " See full TensorStore details"


def _short(e: BaseException) -> str:
  """The first line of an exception, bounded (TensorStore errors run to pages)."""
  text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
  return f"{type(e).__name__}: {text.split(_TENSORSTORE_DETAILS)[0].rstrip(' .')[:300]}"


def saved_config(mgr: ocp.CheckpointManager, step: int) -> dict:
  """The config a checkpoint was saved with ({} if it has none)."""
  try:
    return dict(mgr.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
                ["config"] or {})
  except (KeyError, ValueError, FileNotFoundError):
    return {}


def select_step(mgr: ocp.CheckpointManager, which: str | int) -> int:
  """"latest", "best" (by eval PSNR) or a step number -> an existing step."""
  where = mgr.directory
  steps = sorted(mgr.all_steps())
  if not steps:
    raise CheckpointError(f"{where}: no checkpoint; train first (--mode=train) or check "
                          "--workdir")
  if which == "latest":
    return steps[-1]
  if which == "best":
    best = mgr.best_step()  # None when no checkpoint carries eval metrics
    if best is None:
      raise CheckpointError(f"{where}: no checkpoint has an eval {BEST_METRIC} (train with "
                            "config.train.eval_every > 0), so there is no best one; use "
                            "latest or a step")
    return int(best)
  try:
    step = int(which)
  except (TypeError, ValueError):
    raise CheckpointError(f"checkpoint {which!r}: expected latest, best or a step number") \
        from None
  if step not in steps:
    raise CheckpointError(f"{where}: no checkpoint at step {step}; have {steps}")
  return step


def restore_params(config: ml_collections.ConfigDict, workdir: str | os.PathLike,
                   which: str | int = "latest", text: LoadedTextEncoder | None = None,
                   ) -> tuple[NaLSuper, LoadedTextEncoder | None, Any, Any, int]:
  """(model, text, image params, text params, step): weights only, no optimizer.

  `which`: "latest", "best" (by eval PSNR) or a step number. The EMA
  parameters are returned when training kept them (they are what
  evaluates). Non-finite weights are refused. `text`: the tower of this
  config's `config.text` when the caller has it loaded already (a
  fine-tuning start), so it is not read twice.
  """
  workdir = workdir_path(workdir)
  model = build_model(config)
  text = build_text(config, model, text)
  abstract = abstract_params(config, model, text)
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                        abstract)
  mgr = manager(workdir, config.train, read_only=True)
  try:
    step = select_step(mgr, which)
    where = f"{mgr.directory}/{step}"
    try:
      meta = mgr.item_metadata(step)["state"]
    except Exception as e:  # pylint: disable=broad-except
      raise CheckpointError(f"{where}: unreadable ({_short(e)})") from None
    use_ema = meta.get("ema") is not None
    key = "ema" if use_ema else "params"
    check_shapes(meta[key], target, step, mgr.directory)
    try:
      restored = mgr.restore(step, args=ocp.args.Composite(
          state=_pytree_restore({key: target}, partial=True)))["state"][key]
    except Exception as e:  # pylint: disable=broad-except  # TensorStore/IO/decode errors
      quiet_orphaned_reads()
      raise CheckpointError(f"{where}: {key} failed to restore ({_short(e)})") from None
    bad = damaged_leaves(restored, _saved_fingerprint(mgr, step), prefix=f"{key}/")
  finally:
    mgr.close()
  if bad:
    raise CheckpointError(f"{where}: damaged weights: {bad[0]}"
                          f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''}; "
                          "refusing to use them (pick another step with --checkpoint/--which)")
  params = jax.device_get(restored)
  text_params = params.get("text", text.params) if text is not None else None
  return model, text, params["image"], text_params, int(step)
