"""Training: state, the sharded train step, checkpoints, and the loop.

Read top to bottom: `create_train_state` builds parameters and optimizer
state already sharded over the mesh; `make_train_step` returns one jitted
function (state donated); `train_and_evaluate` runs the loop with Orbax
checkpoints (state + grain iterator + config), clu metrics, periodic
evaluation, preemption handling and a stop on non-finite losses.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import pathlib
import signal
from typing import Any, Callable

import flax
import flax.linen as nn
import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

from nalsuper_jax import losses, sharding
from nalsuper_jax.data import degrade, pipeline
from nalsuper_jax.models import NaLSuper, NaLSuperConfig
from nalsuper_jax.text import LoadedTextEncoder, TextFeatures, load_text_encoder

log = logging.getLogger("nalsuper_jax.train")


class NonFiniteLossError(FloatingPointError):
  """Training produced a NaN/Inf loss; the last good checkpoint is untouched."""


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any          # {"image": ...} (+ {"text": ...} when the text tower trains)
  opt_state: Any
  ema: Any             # EMA of params (used for evaluation), or None


# ----------------------------------------------------------------------------
# Model, text and optimizer
# ----------------------------------------------------------------------------
def build_model(config: ml_collections.ConfigDict) -> NaLSuper:
  return NaLSuper(NaLSuperConfig.from_config(config.model))


def build_text(config: ml_collections.ConfigDict, model: NaLSuper) -> LoadedTextEncoder | None:
  """The text tower, or None for text-free ablations (no FiLM, no TCM)."""
  if not model.config.uses_text:
    return None
  return load_text_encoder(config.text)


def learning_rate_schedule(train: ml_collections.ConfigDict) -> optax.Schedule:
  """Linear warmup to `learning_rate`, cosine decay to `end_learning_rate`."""
  return optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=train.learning_rate, warmup_steps=train.warmup_steps,
      decay_steps=max(train.steps, train.warmup_steps + 1), end_value=train.end_learning_rate)


def make_optimizer(train: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                              optax.Schedule]:
  schedule = learning_rate_schedule(train)
  tx = optax.chain(
      optax.clip_by_global_norm(train.grad_clip) if train.grad_clip else optax.identity(),
      optax.adamw(schedule, b1=train.b1, b2=train.b2, weight_decay=train.weight_decay))
  return tx, schedule


def text_features(text: LoadedTextEncoder | None, text_params: Any, ids, mask,
                  trainable: bool) -> TextFeatures | None:
  if text is None:
    return None
  if not trainable:
    text_params = jax.lax.stop_gradient(text_params)
  return text.module.apply({"params": text_params}, ids, mask)


# ----------------------------------------------------------------------------
# State
# ----------------------------------------------------------------------------
def create_train_state(config: ml_collections.ConfigDict, model: NaLSuper,
                       text: LoadedTextEncoder | None, tx: optax.GradientTransformation,
                       mesh: jax.sharding.Mesh) -> tuple[TrainState, Any]:
  """Initialises the state directly into its shardings; returns (state, shardings)."""
  m = model.config.multiple
  low = jnp.zeros((1, m, m, 3), jnp.float32)
  trainable_text = bool(config.text.trainable) and text is not None

  def init(rng):
    feats = None
    if text is not None:
      ids = jnp.zeros((1, 2), jnp.int32)
      feats = text.module.apply({"params": text.params}, ids, jnp.ones((1, 2), bool))
    params = {"image": model.init(rng, low, feats)["params"]}
    if trainable_text:
      params["text"] = text.params
    ema = params if config.train.ema_decay else None
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params), ema=ema)

  rng = jax.random.key(config.seed)
  abstract = jax.eval_shape(init, rng)
  shardings = sharding.param_shardings(abstract, mesh, sharding.rules(config.sharding))
  state = jax.jit(lambda r: nn.meta.unbox(init(r)), out_shardings=shardings)(rng)
  return state, shardings


def abstract_state(state_shardings: Any, state: TrainState) -> Any:
  """Shape/dtype/sharding structs, the target Orbax restores into."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      state, state_shardings)


# ----------------------------------------------------------------------------
# The train step
# ----------------------------------------------------------------------------
def make_train_step(config: ml_collections.ConfigDict, model: NaLSuper,
                    text: LoadedTextEncoder | None, tx: optax.GradientTransformation,
                    schedule: optax.Schedule, mesh: jax.sharding.Mesh,
                    state_shardings: Any) -> Callable:
  """(state, batch, text_params) -> (state, metrics), jitted over the mesh."""
  trainable_text = bool(config.text.trainable) and text is not None
  ema_decay = float(config.train.ema_decay)
  loss_config = config.loss

  def step(state: TrainState, batch: dict[str, jax.Array], text_params: Any):
    low = batch["low"].astype(jnp.float32) / 255.0
    high = batch["high"].astype(jnp.float32) / 255.0

    def loss_fn(params):
      tp = params["text"] if trainable_text else text_params
      feats = (text_features(text, tp, batch["ids"], batch["mask"], trainable_text)
               if text is not None else None)
      out = model.apply({"params": params["image"]}, low, feats)
      terms = losses.loss_terms(out, high, loss_config)
      return terms["total"], terms

    (_, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema
    if ema_decay:
      ema = jax.tree.map(lambda e, p: ema_decay * e + (1 - ema_decay) * p, state.ema, params)
    metrics = {f"loss/{k}": v for k, v in terms.items()}
    metrics |= {"grad_norm": optax.global_norm(grads), "learning_rate": schedule(state.step)}
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state, ema=ema), metrics

  batch_shard = sharding.batch_sharding(mesh)
  repl = sharding.replicated(mesh)
  return jax.jit(step, in_shardings=(state_shardings, batch_shard, repl),
                 out_shardings=(state_shardings, repl), donate_argnums=0)


def workdir_path(workdir: str | pathlib.Path):
  """Local workdirs become absolute (Orbax requires it); gs:// etc. stay as they are."""
  from etils import epath  # pylint: disable=import-outside-toplevel
  text = str(workdir)
  if "://" in text:
    return epath.Path(text)
  return epath.Path(os.path.abspath(os.path.expanduser(text)))


# ----------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------
def checkpoint_manager(workdir: pathlib.Path, train: ml_collections.ConfigDict
                       ) -> ocp.CheckpointManager:
  """Latest `keep` checkpoints plus the best by validation PSNR."""
  policies = ocp.checkpoint_managers
  options = ocp.CheckpointManagerOptions(
      save_decision_policy=policies.AnySavePolicy([
          policies.FixedIntervalPolicy(train.checkpoint_every),
          policies.PreemptionCheckpointingPolicy()]),
      preservation_policy=policies.AnyPreservationPolicy([
          policies.LatestN(n=train.keep_checkpoints),
          policies.BestN(get_metric_fn=lambda m: m["psnr"], reverse=False, n=1,
                         keep_checkpoints_without_metrics=False)]),
      enable_async_checkpointing=train.async_checkpoints,
      cleanup_tmp_directories=True)
  return ocp.CheckpointManager(workdir / "checkpoints", options=options)


def save_checkpoint(manager: ocp.CheckpointManager, step: int, state: TrainState,
                    iterator, config: ml_collections.ConfigDict,
                    metrics: dict[str, float] | None = None, force: bool = False) -> bool:
  args = ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      data=grain.checkpoint.CheckpointSave(iterator),
      config=ocp.args.JsonSave(config.to_dict()))
  return manager.save(step, args=args, metrics=metrics, force=force)


def restore_checkpoint(manager: ocp.CheckpointManager, step: int, target: Any, iterator
                       ) -> TrainState:
  restored = manager.restore(step, args=ocp.args.Composite(
      state=ocp.args.StandardRestore(target),
      data=grain.checkpoint.CheckpointRestore(iterator)))
  return restored["state"]


# ----------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------
class _Preemption:
  """SIGTERM sets a flag; the loop saves at the next step and exits cleanly."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    def handler(signum, frame):  # pylint: disable=unused-argument
      log.warning("SIGTERM received: saving a checkpoint and stopping")
      self.requested = True
    try:
      self._previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. some test runners)
      self._previous = None
    return self

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)

  def reached(self, step: int) -> bool:
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
      return self.requested or multihost_utils.reached_preemption_sync_point(step)
    return self.requested


@dataclasses.dataclass
class TrainResult:
  step: int
  state: TrainState
  preempted: bool
  history: list[dict[str, float]]  # host metrics of every step this call ran


def _host_metrics(metrics: dict[str, jax.Array]) -> dict[str, float]:
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | pathlib.Path,
                       *, evaluate_during: bool = True) -> TrainResult:
  """Trains (resuming from the latest checkpoint in `workdir`) and evaluates."""
  from clu import metric_writers, periodic_actions  # pylint: disable=import-outside-toplevel
  from nalsuper_jax import evaluate  # pylint: disable=import-outside-toplevel

  workdir = workdir_path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  mesh = sharding.make_mesh(config.mesh)
  shard = pipeline.Shard(jax.process_index(), jax.process_count())
  model = build_model(config)
  text = build_text(config, model)
  tx, schedule = make_optimizer(config.train)

  source = pipeline.load_source(config.data.name, config.data.train_split, config.data.data_dir)
  dataset = pipeline.train_dataset(
      source, crop=config.data.crop, global_batch=config.data.batch_size, seed=config.seed,
      tokenizer=text.tokenizer if text else None, shard=shard, augment=config.data.augment,
      degradation=(degrade.DegradeConfig.from_config(config.data.degrade)
                   if config.data.degrade_on_the_fly else None),
      caption_augment=pipeline.CaptionAugment(config.data.caption_appearance,
                                              config.data.caption_exposure,
                                              config.data.caption_swap,
                                              config.data.caption_relight))
  iterator = pipeline.train_iterator(dataset, num_threads=config.data.num_threads,
                                     prefetch=config.data.prefetch,
                                     worker_count=config.data.worker_count)

  state, state_shardings = create_train_state(config, model, text, tx, mesh)
  manager = checkpoint_manager(workdir, config.train)
  start = manager.latest_step() or 0
  if start:
    log.info("resuming from step %d in %s", start, workdir)
    state = restore_checkpoint(manager, start, abstract_state(state_shardings, state), iterator)
  text_params = (jax.device_put(text.params, sharding.replicated(mesh)) if text else None)
  train_step = make_train_step(config, model, text, tx, schedule, mesh, state_shardings)
  batch_shard = sharding.batch_sharding(mesh)

  writer = metric_writers.create_default_writer(
      str(workdir), just_logging=jax.process_index() > 0, asynchronous=True)
  if start == 0:
    writer.write_hparams({k: str(v) for k, v in config.to_dict().items() if not isinstance(v, dict)}
                         | {"model_size": config.model.size})
  progress = periodic_actions.ReportProgress(num_train_steps=config.train.steps, writer=writer,
                                             every_steps=config.train.log_every)
  total = config.train.steps
  pending: list[dict[str, float]] = []
  history: list[dict[str, float]] = []
  preempted = False
  step = start
  with _Preemption() as preemption, metric_writers.ensure_flushes(writer):
    while step < total:
      batch = sharding.global_batch(next(iterator), batch_shard)
      state, metrics = train_step(state, batch, text_params)
      step += 1
      last = _host_metrics(metrics)
      if not math.isfinite(last["loss/total"]):
        manager.wait_until_finished()
        raise NonFiniteLossError(
            f"non-finite loss {last['loss/total']} at step {step}; stopped without saving. "
            f"The last good checkpoint is step {manager.latest_step()} in {workdir}/checkpoints "
            "(try a lower config.train.learning_rate or config.train.grad_clip)")
      pending.append(last)
      history.append(last)
      progress(step)
      if step % config.train.log_every == 0 or step == total:
        writer.write_scalars(step, {k: float(np.mean([p[k] for p in pending])) for k in last})
        pending.clear()
      eval_metrics = None
      if evaluate_during and config.train.eval_every and (
          step % config.train.eval_every == 0 or step == total):
        eval_metrics = evaluate.evaluate_during_training(config, workdir, model, text, state,
                                                         step, writer)
      preempted = preemption.reached(step)
      if (step % config.train.checkpoint_every == 0 or step == total or preempted
          or eval_metrics is not None):
        save_checkpoint(manager, step, state, iterator, config,
                        metrics=eval_metrics, force=True)
      if preempted:
        log.warning("preempted at step %d: checkpoint saved, exiting", step)
        break
  manager.wait_until_finished()
  manager.close()
  return TrainResult(step, state, preempted, history)
