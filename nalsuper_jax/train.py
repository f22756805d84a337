"""Training: the optimizer, the sharded train step, and the loop.

Read top to bottom: `make_optimizer`; `make_train_step` returns one jitted
function (state donated); `run` is the loop: restore (via `checkpoints`),
step, fetch metrics only at log/save/eval steps (the host never waits on a
step it does not need), hand evaluation to the `evaluator` callback, and let
the Orbax manager decide when to save. Evaluation is a callback so that this
module never imports `evaluate` (as big_vision's trainer receives its
evaluators).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from clu import metric_writers, periodic_actions
from etils import epath
from flax import traverse_util

from nalsuper_jax import checkpoints, losses, sharding, warm_start
from nalsuper_jax.checkpoints import TrainState
from nalsuper_jax.data import degrade, pipeline
from nalsuper_jax.models import NaLSuper
from nalsuper_jax.text import FeatureCache, LoadedTextEncoder, TextFeatures, apply_encoder
from nalsuper_jax.text.cache import FEATURE_KEYS

log = logging.getLogger("nalsuper_jax.train")
METRICS_FILE = "metrics.jsonl"   # every scalar the loop writes, one JSON object a line
DATA_LOG_DIR = "data_log"        # config.data.log_names: process_<i>.jsonl, names per step

# (model, text, params to evaluate, step, writer) -> {"psnr": ..., ...}
EvaluateFn = Callable[[NaLSuper, "LoadedTextEncoder | None", Any, int,
                      metric_writers.MetricWriter], dict[str, float]]


class NonFiniteLossError(FloatingPointError):
  """Training diverged (the restored weights were finite); no checkpoint was written after."""

# ----------------------------------------------------------------------------
# Model, text and optimizer
# ----------------------------------------------------------------------------
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
  return apply_encoder(text.module, text_params, ids, mask)


def batch_text_features(text: LoadedTextEncoder | None, text_params: Any,
                        batch: dict[str, jax.Array], trainable: bool) -> TextFeatures | None:
  """The batch's caption features: handed in by the loop's `FeatureCache` when
  the tower is frozen and cached (its `FEATURE_KEYS`), else run here on the ids."""
  if text is not None and FEATURE_KEYS[0] in batch:
    return TextFeatures(*(batch[k] for k in FEATURE_KEYS))
  return text_features(text, text_params, batch.get("ids"), batch.get("mask"), trainable)


def make_feature_cache(config: ml_collections.ConfigDict,
                       text: LoadedTextEncoder | None) -> FeatureCache | None:
  """The loop's text-feature cache: only for a frozen tower, and `cache_captions` > 0."""
  if text is None or config.text.trainable or not config.text.cache_captions:
    return None
  return FeatureCache(text, int(config.text.cache_captions))


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
      feats = batch_text_features(text, tp, batch, trainable_text)
      out = model.apply({"params": params["image"]}, low, feats)
      terms = losses.loss_terms(out, high, loss_config)
      return terms["total"], terms

    (_, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema
    if ema_decay:
      ema = optax.incremental_update(params, state.ema, step_size=1.0 - ema_decay)
    metrics = {f"loss/{k}": v for k, v in terms.items()}
    metrics |= {"grad_norm": optax.tree.norm(grads), "learning_rate": schedule(state.step)}
    return TrainState(step=state.step + 1, params=params, opt_state=opt_state, ema=ema), metrics

  batch_shard = sharding.batch_sharding(mesh)
  repl = sharding.replicated(mesh)
  return jax.jit(step, in_shardings=(state_shardings, batch_shard, repl),
                 out_shardings=(state_shardings, repl), donate_argnums=0)




# ----------------------------------------------------------------------------
# Metrics: a plain-text log beside TensorBoard
# ----------------------------------------------------------------------------
class JsonlWriter(metric_writers.MetricWriter):
  """Scalars as `{"step": N, name: value, ...}` lines: greppable, readable without TF.

  A resumed run appends; a step written twice (work redone after a crash)
  counts by its last line (`read_metrics`).
  """

  def __init__(self, path: epath.Path):
    self._path = epath.Path(path)
    self._path.parent.mkdir(parents=True, exist_ok=True)
    self._file = self._path.open("a")

  def write_scalars(self, step, scalars):
    self._file.write(json.dumps({"step": int(step), **{k: float(v) for k, v in
                                                        scalars.items()}}) + "\n")

  def flush(self):
    self._file.flush()

  def close(self):
    self._file.close()

  def write_summaries(self, step, values, metadata=None):
    pass

  def write_images(self, step, images):
    pass

  def write_videos(self, step, videos):
    pass

  def write_audios(self, step, audios, *, sample_rate):
    pass

  def write_texts(self, step, texts):
    pass

  def write_histograms(self, step, arrays, num_buckets=None):
    pass

  def write_hparams(self, hparams):
    pass


def read_metrics(workdir: str | os.PathLike) -> dict[int, dict[str, float]]:
  """{step: {name: value}} from `<workdir>/metrics.jsonl`; later lines win."""
  out: dict[int, dict[str, float]] = {}
  path = checkpoints.workdir_path(workdir) / METRICS_FILE
  for line in path.read_text().splitlines():
    try:
      row = json.loads(line)
    except json.JSONDecodeError:  # a line cut by a crash
      continue
    out.setdefault(row.pop("step"), {}).update(row)
  return out


def make_writer(workdir: epath.Path) -> metric_writers.MetricWriter:
  """clu's default writer (console + TensorBoard) plus `metrics.jsonl` on process 0."""
  if jax.process_index() > 0:
    return metric_writers.create_default_writer(str(workdir), just_logging=True)
  return metric_writers.MultiWriter([
      metric_writers.create_default_writer(str(workdir), asynchronous=True),
      JsonlWriter(workdir / METRICS_FILE)])


# ----------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------
class _SigtermFlag:
  """SIGTERM sets `stop.requested`; the manager saves at the next step and the loop exits."""

  def __init__(self, stop: checkpoints.StopRequested):
    self.stop = stop
    self._previous = None

  def __enter__(self):
    def handler(signum, frame):  # pylint: disable=unused-argument
      log.warning("SIGTERM received: saving a checkpoint and stopping")
      self.stop.requested = True
    try:
      self._previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. some test runners)
      self._previous = None
    return self

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


@dataclasses.dataclass
class TrainResult:
  step: int                         # the step the run ended at
  state: TrainState | None          # None when nothing was trained (already done)
  model: NaLSuper
  text: LoadedTextEncoder | None
  preempted: bool = False
  already_trained: bool = False
  # `config.<field>: saved -> now` where the workdir's checkpoint was saved under
  # another config (a changed recipe would otherwise go unnoticed on resume).
  config_changes: tuple[str, ...] = ()


def train_iterator(config: ml_collections.ConfigDict, text: LoadedTextEncoder | None):
  """This process's batches as the loop reads them (a checkpointable grain iterator)."""
  shard = pipeline.Shard(jax.process_index(), jax.process_count())
  source = pipeline.load_training_source(
      config.data, skip_decoding=("low",) if config.data.degrade_on_the_fly else ())
  caption_augment = pipeline.CaptionAugment.from_config(config)
  dataset = pipeline.train_dataset(
      source, crop=config.data.crop, global_batch=config.data.batch_size, seed=config.seed,
      tokenizer=text.tokenizer if text else None, shard=shard, augment=config.data.augment,
      degradation=(degrade.DegradeConfig.from_config(config.data.degrade)
                   if config.data.degrade_on_the_fly else None),
      caption_augment=caption_augment,
      caption_whole_image=config.data.caption_whole_image, zoom_out=config.data.zoom_out,
      keep_names=config.data.log_names,
      contents=(pipeline.training_caption_contents(config.data)
                if text and caption_augment.swap else None))
  return pipeline.train_iterator(dataset, num_threads=config.data.num_threads,
                                 prefetch=config.data.prefetch,
                                 worker_count=config.data.worker_count,
                                 nice=config.data.reader_nice)


def _check_finite(window: list[dict[str, float]], first_step: int, restored_step: int,
                  mgr, workdir) -> None:
  """Raises NonFiniteLossError naming the first bad step of a fetched window."""
  for i, m in enumerate(window):
    if not (math.isfinite(m["loss/total"]) and math.isfinite(m["grad_norm"])):
      checkpoints.finish(mgr)
      origin = (f"from the finite weights restored at step {restored_step}" if restored_step
                else "from initialisation")
      raise NonFiniteLossError(
          f"training diverged: non-finite loss {m['loss/total']} or gradient norm "
          f"{m['grad_norm']} at step {first_step + i} (in steps {first_step}.."
          f"{first_step + len(window) - 1}, {origin}); stopped without saving. The last "
          f"checkpoint is step {mgr.latest_step()} in {workdir}/{checkpoints.CHECKPOINT_DIR} "
          "(try a lower config.train.learning_rate or config.train.grad_clip)")


def run(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
        evaluator: EvaluateFn | None = None) -> TrainResult:
  """Trains (resuming from the newest good checkpoint in `workdir`).

  Nothing in the workdir changes before the checkpoint is known to fit the
  config; a run already at or past `config.train.steps` returns at once.
  """
  workdir = checkpoints.workdir_path(workdir)
  mesh = sharding.make_mesh(config.mesh)
  model = checkpoints.build_model(config)
  text = checkpoints.build_text(config, model)
  tx, schedule = make_optimizer(config.train)
  total = int(config.train.steps)

  layout = checkpoints.train_state_layout(config, model, text, tx, mesh)
  stop = checkpoints.StopRequested() if jax.process_count() == 1 else None
  mgr = checkpoints.manager(workdir, config.train, stop=stop)
  latest = mgr.latest_step()
  changes = ()
  if latest is not None:
    changes = tuple(checkpoints.config_differences(checkpoints.saved_config(mgr, latest),
                                                   config.to_dict()))
    if changes:
      log.warning("the checkpoint of step %d in %s was saved under another config: %s",
                  latest, workdir, "; ".join(changes))
  if latest is not None and latest >= total:
    log.warning("already trained to step %d (config.train.steps=%d): nothing to do",
                latest, total)
    mgr.close()
    return TrainResult(latest, None, model, text, already_trained=True,
                       config_changes=changes)
  iterator = train_iterator(config, text)
  state, start = None, 0
  if latest is not None:
    state, start = checkpoints.restore_train_state(mgr, layout.abstract, iterator, config)
    if state is None:
      log.warning("no good checkpoint left in %s: starting from step 0", workdir)
      iterator = train_iterator(config, text)  # a failed restore may have moved it
  if state is None and config.train.init_from is not None:
    state = layout.start_from(warm_start.load(config, layout.abstract.params, text))
    log.info("starting from the weights of %s (config.train.init_from)",
             warm_start.source_folder(config.train.init_from))
  if state is None:
    state = layout.initialise()
  if start:
    log.info("resuming from step %d in %s", start, workdir)
  checkpoints.write_config(workdir, config)

  text_params = jax.device_put(text.params, sharding.replicated(mesh)) if text else None
  feature_cache = make_feature_cache(config, text)
  train_step = make_train_step(config, model, text, tx, schedule, mesh, layout.shardings)
  batch_shard = sharding.batch_sharding(mesh)
  writer = make_writer(workdir)
  if start == 0:
    writer.write_hparams(traverse_util.flatten_dict(config.to_dict(), sep="."))
  progress = periodic_actions.ReportProgress(num_train_steps=total, writer=writer,
                                             every_steps=config.train.log_every)
  eval_every = int(config.train.eval_every) if evaluator is not None else 0
  data_log = None
  if config.data.log_names:
    (workdir / DATA_LOG_DIR).mkdir(parents=True, exist_ok=True)
    data_log = (workdir / DATA_LOG_DIR / f"process_{jax.process_index()}.jsonl").open("a")
  pending: list[dict[str, jax.Array]] = []   # device metrics not yet fetched
  preempted = False
  step = start
  with _SigtermFlag(stop or checkpoints.StopRequested()), \
       metric_writers.ensure_flushes(writer):
    while step < total:
      local = next(iterator)
      if data_log is not None:
        data_log.write(json.dumps({"step": step + 1, "names": [
            pipeline.text(n) for n in local.pop("name")]}) + "\n")
      if feature_cache is not None:
        local = feature_cache.replace_tokens(local)
      batch = sharding.global_batch(local, batch_shard)
      state, metrics = train_step(state, batch, text_params)
      step += 1
      pending.append(metrics)
      progress(step)
      is_eval = bool(eval_every) and (step % eval_every == 0 or step == total)
      # Read the stop request before the save decision: a SIGTERM arriving in
      # between then still saves this step (the flag only goes False -> True).
      preempted = bool(stop and stop.requested) or (
          jax.process_count() > 1 and mgr.reached_preemption(step))
      will_save = mgr.should_save(step)
      if step % config.train.log_every == 0 or step == total or will_save or is_eval:
        window = [{k: float(v) for k, v in m.items()} for m in jax.device_get(pending)]
        _check_finite(window, step - len(window) + 1, start, mgr, workdir)
        writer.write_scalars(step, {k: float(np.mean([m[k] for m in window]))
                                    for k in window[-1]})
        pending.clear()
      eval_metrics = None
      if is_eval:
        eval_metrics = evaluator(model, text, state.ema if state.ema is not None
                                 else state.params, step, writer)
        writer.write_scalars(step, {f"eval/{k}": v for k, v in eval_metrics.items()})
      if will_save:
        # The logs reach their files with each checkpoint: a run killed later
        # resumes from it and logs only the steps after it again, so no step
        # of metrics.jsonl or the data log is lost in a buffer.
        writer.flush()
        if data_log is not None:
          data_log.flush()
        checkpoints.save(mgr, step, state, iterator, config, metrics=eval_metrics)
      if preempted:
        log.warning("preempted at step %d: checkpoint saved, exiting", step)
        break
  checkpoints.finish(mgr)
  mgr.close()
  if data_log is not None:
    data_log.close()
  if feature_cache is not None:
    log.info("text features: %d captions encoded, %d reused (config.text.cache_captions=%d)",
             feature_cache.misses, feature_cache.hits, feature_cache.max_captions)
  return TrainResult(step, state, model, text, preempted=preempted, config_changes=changes)
