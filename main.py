"""NaLSuper training and evaluation.

  python main.py --config=configs/default.py --workdir=/tmp/nalsuper [--mode=train_and_eval]
  python main.py --config=configs/lol_v1.py --config.data.data_dir=~/tfds --workdir=gs://bucket/run

Rerunning the same command resumes from the latest checkpoint in --workdir.
On several hosts pass --distributed (or set NALSUPER_DISTRIBUTED=1) so that
jax.distributed.initialize() runs first (TPU VMs and SLURM/GPU clusters need no
further arguments; elsewhere set JAX_COORDINATOR_ADDRESS etc.).
"""

from __future__ import annotations

import json
import logging
import os

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, metrics and reports go here.")
_MODE = flags.DEFINE_enum("mode", "train_and_eval", ["train", "eval", "train_and_eval"],
                          "What to run.")
_CHECKPOINT = flags.DEFINE_enum("checkpoint", "latest", ["latest", "best"],
                                "--mode=eval: which checkpoint to evaluate.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", os.environ.get("NALSUPER_DISTRIBUTED", "0") == "1",
    "Call jax.distributed.initialize() (multi-host runs).")
flags.mark_flags_as_required(["config", "workdir"])


def _hide_gpus_from_tensorflow() -> None:
  """clu and TFDS import TensorFlow; keep it off the accelerators JAX uses."""
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.set_visible_devices([], "GPU")
  except (ImportError, RuntimeError):
    pass


def _write_config(config, workdir) -> None:
  import jax  # pylint: disable=import-outside-toplevel
  if jax.process_index() != 0:
    return
  workdir.mkdir(parents=True, exist_ok=True)
  tmp = workdir / "config.json.tmp"
  tmp.write_text(json.dumps(config.to_dict(), indent=2, default=str) + "\n")
  tmp.replace(workdir / "config.json")


class _QuietLibraries(logging.Filter):
  """Drops INFO chatter from Orbax/TFDS internals; our own progress stays."""

  def filter(self, record: logging.LogRecord) -> bool:
    noisy = any(f"/{lib}/" in record.pathname for lib in ("orbax", "tensorflow_datasets", "etils"))
    return record.levelno >= logging.WARNING or not noisy


def main(argv) -> None:
  del argv
  for handler in logging.getLogger().handlers + logging.getLogger("absl").handlers:
    handler.addFilter(_QuietLibraries())
  from nalsuper_jax import config_check  # pylint: disable=import-outside-toplevel
  config = _CONFIG.value
  try:
    config_check.validate(config)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  _hide_gpus_from_tensorflow()
  import jax  # pylint: disable=import-outside-toplevel
  if _DISTRIBUTED.value:
    jax.distributed.initialize()
  logging.info("JAX %s: process %d/%d, %d devices (%s)", jax.__version__, jax.process_index(),
               jax.process_count(), jax.device_count(), jax.default_backend())
  from nalsuper_jax import train  # pylint: disable=import-outside-toplevel
  workdir = train.workdir_path(_WORKDIR.value)
  _write_config(config, workdir)
  from nalsuper_jax import evaluate  # pylint: disable=import-outside-toplevel
  if _MODE.value in ("train", "train_and_eval"):
    result = train.train_and_evaluate(config, workdir,
                                      evaluate_during=_MODE.value == "train_and_eval")
    if result.preempted:
      return
  if _MODE.value in ("eval", "train_and_eval"):
    summary = evaluate.run(config, workdir, checkpoint=_CHECKPOINT.value)
    if jax.process_index() == 0:
      out = workdir / "eval" / summary["split"]
      keys = [k for k in ("psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean", "input_psnr",
                          "psnr_default_prompt", "psnr_gamma", "psnr_clahe",
                          "psnr_oracle_exposure") if k in summary]
      print(f"\nEvaluation at step {summary['step']} on {summary['num_images']} "
            f"{summary['split']} images:")
      for k in keys:
        print(f"  {k:24s} {summary[k]:.3f}")
      print(f"Reports: {out}/summary.json, {out}/per_image.csv; pictures: {out}/images/")
      print(f"TensorBoard: tensorboard --logdir {workdir}")


if __name__ == "__main__":
  app.run(main)
