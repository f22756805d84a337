"""Up-front validation of experiment configs: one line naming the bad field.

Runs before anything heavy (datasets, compilation), so a typo costs seconds,
not a queued TPU job.
"""

from __future__ import annotations

import ml_collections

from nalsuper_jax.data import degrade, pipeline
from nalsuper_jax.models import NaLSuperConfig
from nalsuper_jax.text import cache as text_cache
from nalsuper_jax.text import tokenizer

SECTIONS = ("seed", "model", "text", "data", "train", "loss", "eval", "mesh", "sharding")


class ConfigError(ValueError):
  pass


def _require(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


def validate(config: ml_collections.ConfigDict) -> NaLSuperConfig:
  """Raises ConfigError on unknown or inconsistent fields; returns the model config."""
  unknown = sorted(set(config.keys()) - set(SECTIONS))
  _require(not unknown, f"config: unknown section(s) {unknown}; expected {list(SECTIONS)}")
  missing = sorted(set(SECTIONS) - set(config.keys()))
  _require(not missing, f"config: missing section(s) {missing}")
  model = NaLSuperConfig.from_config(config.model)
  d, t, e = config.data, config.train, config.eval
  _require(d.crop > 0 and d.crop % model.multiple == 0,
           f"config.data.crop={d.crop} must be a positive multiple of {model.multiple} "
           "(the network's input multiple)")
  _require(d.batch_size > 0, f"config.data.batch_size={d.batch_size} must be positive")
  _require(d.num_threads >= 0 and d.prefetch >= 0 and d.worker_count >= 0,
           "config.data.num_threads/prefetch/worker_count must be >= 0")
  _require(0 <= d.reader_nice <= 19, f"config.data.reader_nice={d.reader_nice} must be in "
           "0..19 (a niceness; readers can lower their priority, not raise it)")
  _require(isinstance(d.train_exclude, (tuple, list))
           and all(isinstance(p, str) and p for p in d.train_exclude),
           f"config.data.train_exclude={d.train_exclude!r} must be a tuple of name patterns "
           "(e.g. ('china_*',))")
  try:  # the pipeline's own rule
    pipeline.check_zoom_out(d.zoom_out)
  except ValueError as e:
    raise ConfigError(f"config.data.{e}") from None
  try:
    degrade.DegradeConfig.from_config(d.degrade)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  try:  # the pipeline's own rule
    pipeline.CaptionAugment.from_config(config)
  except ValueError as e:
    raise ConfigError("config.data.caption_appearance/exposure/swap/relight/default/invented: "
                      f"{e}") from None
  _require(t.steps > 0, f"config.train.steps={t.steps} must be positive")
  _require(0 <= t.warmup_steps < t.steps,
           f"config.train.warmup_steps={t.warmup_steps} must be in [0, steps={t.steps})")
  _require(t.learning_rate > 0, f"config.train.learning_rate={t.learning_rate} must be > 0")
  _require(0 <= t.end_learning_rate <= t.learning_rate,
           f"config.train.end_learning_rate={t.end_learning_rate} must be in [0, learning_rate]")
  _require(0 <= t.ema_decay < 1, f"config.train.ema_decay={t.ema_decay} must be in [0, 1)")
  for name in ("log_every", "checkpoint_every", "keep_checkpoints"):
    _require(t[name] > 0, f"config.train.{name}={t[name]} must be positive")
  _require(t.init_from is None or (isinstance(t.init_from, str) and t.init_from),
           f"config.train.init_from={t.init_from!r} must be None, the name of a model "
           "inside the package (warm_start.PACKAGED) or a folder")
  _require(t.eval_every >= 0, f"config.train.eval_every={t.eval_every} must be >= 0 (0: off)")
  for name in (k for k in config.loss if k.startswith("w_")):  # every term's weight
    _require(config.loss[name] >= 0, f"config.loss.{name}={config.loss[name]} must be >= 0")
  _require(e.max_images is None or e.max_images > 0,
           f"config.eval.max_images={e.max_images} must be positive or None")
  _require(e.batch_size >= 1, f"config.eval.batch_size={e.batch_size} must be >= 1")
  try:  # the tokenizer's and the feature cache's own rules
    tokenizer.check_max_len(config.text.max_len)
    text_cache.check_cache_captions(config.text.cache_captions)
  except ValueError as e:
    raise ConfigError(f"config.text.{e}") from None
  _require(config.mesh.fsdp >= 1 and (config.mesh.data == -1 or config.mesh.data >= 1),
           f"config.mesh: data={config.mesh.data} (-1 or >= 1), fsdp={config.mesh.fsdp} (>= 1)")
  return model
