"""NaLSuper training and evaluation.

  python main.py --config=configs/default.py --workdir=/tmp/nalsuper [--mode=train_and_eval]
  python main.py --config=configs/lol_v1.py --config.data.data_dir=~/tfds --workdir=gs://bucket/run

Rerunning the same command resumes from the latest checkpoint in --workdir.
On several hosts pass --distributed (or set NALSUPER_DISTRIBUTED=1) so that
jax.distributed.initialize() runs first (TPU VMs and SLURM/GPU clusters need no
further arguments; elsewhere set JAX_COORDINATOR_ADDRESS etc.).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from typing import NoReturn

from absl import app, flags
from ml_collections import config_flags

from nalsuper_jax import allocator, quiet_logs

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, metrics and reports go here.")
_MODE = flags.DEFINE_enum("mode", "train_and_eval", ["train", "eval", "train_and_eval"],
                          "What to run.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", "latest", "--mode=eval: latest, best (by eval PSNR) or a step number.")
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", os.environ.get("NALSUPER_DISTRIBUTED", "0") == "1",
    "Call jax.distributed.initialize() first (multi-process / multi-host runs).")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None,
    "With --distributed where the cluster is not detected (e.g. several processes on one "
    "machine): host:port of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "With --coordinator_address.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "With --coordinator_address.")
flags.mark_flags_as_required(["config", "workdir"])


def _hide_gpus_from_tensorflow() -> None:
  """clu and TFDS import TensorFlow; keep it off the accelerators JAX uses."""
  try:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.config.set_visible_devices([], "GPU")
  except (ImportError, RuntimeError):
    pass


_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def _initialize_distributed() -> None:
  import jax  # pylint: disable=import-outside-toplevel  # deferred as in main()
  # CPU processes need a collectives backend (TPU/GPU bring their own).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                             num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  # The first collective sets up the collectives' context, and on CPU (gloo) that
  # waits only 30 s for the other processes. Right after `initialize` they are
  # in step; later (model and text loading) one may run far behind another.
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
  multihost_utils.sync_global_devices("nalsuper_jax: processes started")


def _print_summary(summary: dict, workdir) -> None:
  out = workdir / "eval" / summary["split"]
  keys = [k for k in ("psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean", "input_psnr",
                      "psnr_caption_kept", "psnr_default_prompt", "psnr_gamma", "psnr_clahe",
                      "psnr_oracle_exposure") if k in summary]
  print(f"\nEvaluation at step {summary['step']} on {summary['num_images']} "
        f"{summary['split']} images:")
  for k in keys:
    print(f"  {k:24s} {summary[k]:.3f}")
  print(f"Reports: {out}/summary.json, {out}/per_image.csv; pictures: {out}/images/")
  print(f"TensorBoard: tensorboard --logdir {workdir}")


def _one_line(error: BaseException) -> str:
  """An exception's message on one line (config_flags packs newlines and quotes in)."""
  text = str(error).encode().decode("unicode_escape") if "\\n" in str(error) else str(error)
  return " ".join(text.replace("'", "").split())


def _parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing with config mistakes as one line and exit status 2.

  A mistyped override (`--config.train.stepz`) or a missing config file
  otherwise ends in chained tracebacks before ml_collections' "did you mean".
  """
  config_file = next((a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")), None)
  if config_file is not None and not os.path.isfile(config_file.split(":")[0]):
    _usage_error(f"--config={config_file}: no such file; expected a Python file defining "
                 "get_config(), e.g. configs/default.py")
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    message = str(e)
  except (AttributeError, KeyError, TypeError, ValueError, OSError) as e:
    message = _one_line(e.__cause__ or e)
    unknown = message.split(" ")[0]
    culprit = next((a.split("=")[0] for a in argv[1:]
                    if a.startswith("--config") and a.split("=")[0].endswith("." + unknown)), None)
    if culprit:
      message = f"{culprit}: no such config field; {message[len(unknown):].strip()}"
  _usage_error(message)


def _usage_error(message: str) -> NoReturn:
  print(f"main.py: {message}", file=sys.stderr)
  sys.exit(2)


def _check_workdir(path: str) -> None:
  """A local workdir must be (or become) a writable folder; said before anything loads."""
  if "://" in path:
    return  # gs:// etc.: the storage layer reports its own errors
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    _usage_error(f"--workdir={path}: {existing} is a file; expected a folder")
  if not os.access(existing, os.W_OK | os.X_OK):
    _usage_error(f"--workdir={path}: {existing} is not writable; expected a folder you can "
                 "write to")


def main(argv) -> None:
  del argv
  quiet_logs.install()
  # Imports below are deferred so that `--help` and usage errors (a bad config
  # field, a workdir that cannot be written) answer before the training stack
  # (clu's writer imports TensorFlow: seconds) is loaded.
  from nalsuper_jax import config_check  # pylint: disable=import-outside-toplevel
  config = _CONFIG.value
  try:
    config_check.validate(config)
  except ValueError as e:
    _usage_error(str(e))
  _check_workdir(_WORKDIR.value)
  _hide_gpus_from_tensorflow()
  import jax  # pylint: disable=import-outside-toplevel
  from nalsuper_jax import compile_cache  # pylint: disable=import-outside-toplevel
  compile_cache.enable()  # compile the train step / eval programs once per machine
  if _DISTRIBUTED.value:
    _initialize_distributed()
  logging.info("JAX %s: process %d/%d, %d devices (%s)", jax.__version__, jax.process_index(),
               jax.process_count(), jax.device_count(), jax.default_backend())
  from nalsuper_jax import checkpoints, evaluate, train  # pylint: disable=import-outside-toplevel
  from nalsuper_jax.data import pipeline  # pylint: disable=import-outside-toplevel
  from nalsuper_jax.enhance import usage  # pylint: disable=import-outside-toplevel
  workdir = checkpoints.workdir_path(_WORKDIR.value)
  try:
    if _MODE.value == "eval":
      summary = evaluate.run(config, workdir, checkpoint=_CHECKPOINT.value)
    else:
      evaluator = (evaluate.Evaluator(config, workdir) if _MODE.value == "train_and_eval"
                   else None)
      result = train.run(config, workdir, evaluator=evaluator)
      if result.already_trained:
        print(f"main.py: {workdir} is already trained to step {result.step} "
              f"(config.train.steps={config.train.steps}); nothing changed. Evaluate with "
              "--mode=eval, or raise --config.train.steps to train further.")
        if result.config_changes:
          print(f"main.py: its checkpoint was saved under another config "
                f"({'; '.join(result.config_changes)}); to train this one, use a new "
                "--workdir.")
        return
      if result.preempted or _MODE.value == "train":
        return
      params = evaluate.host_params(result.state.ema if result.state.ema is not None
                                    else result.state.params)
      text_params = params.get("text", result.text.params) if result.text else None
      summary = evaluate.evaluate_params(config, workdir, result.model, result.text,
                                         params["image"], text_params, result.step)
  except (checkpoints.CheckpointError, pipeline.DataNotBuilt, pipeline.DataCorrupt) as e:
    if usage.debugging():
      raise
    sys.exit(f"main.py: {e}")
  except OSError as e:  # config.json, metrics, reports: a full or read-only disk
    if e.errno not in _DISK_ERRORS or usage.debugging():
      raise
    sys.exit(f"main.py: {e.filename or workdir}: {e.strerror}; expected a writable --workdir "
             "with free space (checkpoints already saved are intact; rerun to resume)")
  if jax.process_index() == 0:
    _print_summary(summary, workdir)


if __name__ == "__main__":
  allocator.preload()  # tcmalloc: may re-execute this process, so before the work starts
  app.run(main, flags_parser=_parse_flags)
