"""The main job on the tiny config: sharding invariance, resume, preemption, failures."""

import json
import logging
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import imageio.v3 as iio
import jax
import numpy as np
import pytest

from configs import tiny
from nalsuper_jax import checkpoints, config_check, evaluate, inference, metrics, quiet_logs, train
from nalsuper_jax.data import captions, pipeline
from nalsuper_jax.models import pad_to_multiple
from tests import ROOT, runs
from tests.numerics import assert_close

pytestmark = pytest.mark.slow  # real training runs and main.py subprocesses


def _main(workdir, data_dir, *flags, env=None, **popen):
  cmd = [sys.executable, str(ROOT / "main.py"), "--config=configs/tiny.py",
         f"--workdir={workdir}", f"--config.data.data_dir={data_dir}", "--mode=train", *flags]
  return subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, **(env or {})),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


CONFIG_ERRORS = (  # (section, field, bad value, expected message)
    ("train", "warmup_steps", 12, r"config\.train\.warmup_steps"),
    ("data", "crop", 30, r"config\.data\.crop=30.*multiple of 4"),
    ("data", "caption_swap", 0.9, r"relight.*sum to at most 1"),
    ("text", "max_len", 1, r"config\.text\.max_len=1 must be >= 2"),
    ("eval", "batch_size", 0, r"config\.eval\.batch_size=0"),
    ("loss", "w_detail", -0.1, r"config\.loss\.w_detail=-0\.1 must be >= 0"),
    ("loss", "w_exposure", -1.0, r"config\.loss\.w_exposure=-1\.0 must be >= 0"),
    ("data", "caption_default", 0.5, r"default.*sum to at most 1"),
    ("data", "zoom_out", 1.5, r"config\.data\.zoom_out=1\.5 must be a probability"),
    ("train", "init_from", "", r"config\.train\.init_from='' must be None, the name of a "
     r"model inside the package \(warm_start\.PACKAGED\) or a folder"),
)


def test_config_errors_name_the_field(tmp_path):
  for section, field, value, message in CONFIG_ERRORS:
    config = tiny.get_config()
    config[section][field] = value
    with pytest.raises(config_check.ConfigError, match=message):
      config_check.validate(config)
  config = tiny.get_config()
  config.data.degrade.darken = (0.5, 0.1)
  with pytest.raises(config_check.ConfigError, match=r"config\.data\.degrade\.darken"):
    config_check.validate(config)
  out = subprocess.run([sys.executable, "main.py", "--config=configs/tiny.py",
                        f"--workdir={tmp_path}", "--config.train.stepz=3"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode != 0 and "stepz" in out.stderr


_CURVES = """
import json, sys
from tests import runs
from nalsuper_jax import train
import jax
for fsdp in (1, 2):   # 4 x 1 data parallel, then a 2 x 2 mesh with sharded params
  config = runs.curve_config(sys.argv[1], fsdp=fsdp)
  workdir = f"{sys.argv[2]}/fsdp{fsdp}"
  train.run(config, workdir)
  curve = runs.loss_curve(workdir, config.train.steps)
  print("CURVE", jax.device_count(), json.dumps(curve.tolist()))
"""


def test_one_and_four_devices_give_the_same_loss_curve(data_dir, trained_run, tmp_path):
  """One device (the suite's `trained_run`, which logs every loss) vs four
  forced host devices (one subprocess, both layouts): the same global batch
  gives the same losses."""
  one = runs.loss_curve(trained_run, tiny.get_config().train.steps)
  out = subprocess.run([sys.executable, "-c", _CURVES, data_dir, str(tmp_path)],
                       cwd=ROOT, env=runs.host_devices_env(runs.CURVE_DEVICES),
                       capture_output=True, text=True, timeout=900)
  lines = [l.split(" ", 2) for l in out.stdout.splitlines() if l.startswith("CURVE")]
  assert len(lines) == 2, out.stdout[-2000:] + out.stderr[-4000:]
  assert len(one) == tiny.get_config().train.steps
  for _, count, curve in lines:
    assert int(count) == runs.CURVE_DEVICES
    np.testing.assert_allclose(np.asarray(json.loads(curve)), one, rtol=1e-4)
  assert one[-1] < one[0]  # and it learns


def test_sigterm_saves_exits_cleanly_and_the_rerun_equals_uninterrupted_run(data_dir, trained_run,
                                                                        tmp_path):
  """Preemption: main.py gets SIGTERM after its step-4 checkpoint, saves the
  step it is at and exits 0; the rerun resumes from that save and ends with
  the uninterrupted run's parameters (`trained_run`), bit for bit. The rerun
  uses train.run in this pytest process (bit-identical to main.py's; a process
  start costs ~15 s here). A SIGKILL, which saves nothing, and its resume are
  `multiprocess_test`'s, through two processes."""
  proc = _main(tmp_path, data_dir)
  runs.wait_for_checkpoint(tmp_path, 4, proc)
  proc.send_signal(signal.SIGTERM)
  output = proc.communicate(timeout=300)[0]
  assert proc.returncode == 0, output[-3000:]
  assert "preempted at step" in output
  saved, params = runs.final_params(tmp_path)
  assert 4 < saved < 12  # saved partway, where SIGTERM found it
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))
  train.run(runs.config(data_dir), tmp_path)
  runs.assert_same_final_params(trained_run, tmp_path, 12)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
  config = runs.config(data_dir, learning_rate=1e30, end_learning_rate=0.0, grad_clip=0.0,
                   checkpoint_every=1, steps=12)
  with pytest.raises(train.NonFiniteLossError,
                     match=r"diverged: non-finite .* at step \d+ .*from initialisation") as e:
    train.run(config, tmp_path)
  failed = int(str(e.value).split(" at step ")[1].split(" ")[0])
  step, params = runs.final_params(tmp_path)
  assert step < failed
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(params))


def test_eval_writes_summary_csv_and_pictures(data_dir, trained_run, tmp_path):
  config = runs.trained_config(data_dir)
  workdir = tmp_path / "run"
  shutil.copytree(trained_run, workdir)
  summary = evaluate.run(config, workdir)
  for key in ("psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean", "input_psnr", "input_ssim",
              "psnr_caption_kept", "psnr_default_prompt", "num_images", "step", "psnr_gamma",
              "psnr_clahe", "psnr_oracle_exposure"):
    assert key in summary, key
  assert summary["num_images"] == 3 and summary["step"] == 12
  out = workdir / "eval" / "test"
  assert json.loads((out / "summary.json").read_text())["psnr"] == summary["psnr"]
  rows = (out / "per_image.csv").read_text().strip().splitlines()
  assert rows[0].startswith("name,") and len(rows) == 4
  pictures = sorted((out / "images").glob("*.png"))
  assert len(pictures) == 3
  assert iio.imread(pictures[0]).shape == (240, 3 * 320, 3)
  # The oracle matches each target's mean: it must beat the raw input.
  assert summary["psnr_oracle_exposure"] > summary["input_psnr"]
  # each caption's exposure words kept (`captions.keep_exposure_words`) on the
  # output the picture shows (8-bit there: to 0.05 dB)
  header, first = rows[0].split(","), rows[1].split(",")
  source = pipeline.load_source(config.data.name, "test", data_dir)
  element = next(e for e in (source[i] for i in range(len(source)))
                 if pipeline.text(e["name"]) == first[0])
  shown = iio.imread(out / "images" / f"{first[0]}.png")[:, 320:640] / 255.0
  kept = captions.keep_exposure_words(shown, pipeline.text(element["caption"]))
  assert metrics.image_metrics(kept, np.asarray(element["high"]))["psnr"] == pytest.approx(
      float(first[header.index("psnr_caption_kept")]), abs=0.05)


def test_eval_batches_images_of_one_padded_shape_with_the_same_outputs(data_dir, perturbed_run):
  config = runs.config(data_dir)
  model, text, image_params, text_params, _ = checkpoints.restore_params(config, perturbed_run,
                                                                          "latest")
  source = pipeline.load_source(config.data.name, config.data.eval_split, data_dir)
  jitted = jax.jit(inference.forward_fn(model, text))
  calls = []

  def forward(params, low, ids, mask):
    calls.append(low.shape)
    return jitted(params, low, ids, mask)

  outputs = {}
  for batch in (1, 2):
    config.eval.batch_size = batch
    calls.clear()
    outputs[batch] = {i: out for i, _, out in evaluate.enhance_split(
        config, model, text, image_params, text_params, source, limit=5, forward=forward)}
    shapes = {shape[1:] for shape in calls}
    assert {shape[0] for shape in calls} == {batch}  # partial batches are filled
    # One call per `batch` images of a padded shape: ceil(count / batch) per shape.
    counts = {}
    for i in range(5):
      padded, _ = pad_to_multiple(np.asarray(source[i]["low"])[None], model.config.multiple)
      counts.setdefault(padded.shape[1:], []).append(i)
    assert shapes == set(counts)
    assert len(calls) == sum(-(-len(v) // batch) for v in counts.values())
  assert sorted(outputs[1]) == sorted(outputs[2]) == list(range(5))
  for i in range(5):
    assert outputs[2][i].shape == np.asarray(source[i]["low"]).shape
    assert_close(outputs[2][i], outputs[1][i])


def _event_scalars(workdir) -> dict[str, dict[int, float]]:
  """{tag: {step: value}} from the TensorBoard event files clu wrote."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel  # heavy; this test only
  out: dict[str, dict[int, float]] = {}
  for path in pathlib.Path(workdir).glob("events.out.tfevents.*"):
    for event in tf.compat.v1.train.summary_iterator(str(path)):
      for value in event.summary.value:
        if value.metadata.plugin_data.plugin_name == "scalars":
          out.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
  return out


def test_paper_scale_paths_ema_periodic_eval_trainable_text_bfloat16(data_dir, tmp_path):
  """The paths every paper config takes, in one real run: EMA (0.999 there),
  evaluation every few steps feeding the best checkpoint, a trainable text
  tower, bfloat16 compute, and the TensorBoard scalars clu writes."""
  config = runs.config(data_dir, steps=4, ema_decay=0.5, eval_every=3, checkpoint_every=3,
                       keep_checkpoints=2)
  config.text.trainable = True
  config.model.dtype = "bfloat16"
  result = train.run(config, tmp_path, evaluator=evaluate.Evaluator(config, tmp_path))
  state = jax.device_get(result.state)
  # bfloat16 compute keeps float32 master weights and finite losses.
  assert {x.dtype for x in jax.tree.leaves(state.params)} == {np.dtype("float32")}
  metrics = train.read_metrics(tmp_path)
  assert all(np.isfinite(metrics[s]["loss/total"]) for s in (2, 3, 4))
  # Periodic evaluation ran at step 3 and the last step only; its PSNR chose "best".
  assert sorted(s for s, m in metrics.items() if "eval/psnr" in m) == [3, 4]
  best = 3 if metrics[3]["eval/psnr"] > metrics[4]["eval/psnr"] else 4
  assert checkpoints.restore_params(config, tmp_path, "best")[4] == best
  # The text tower trained: its weights moved away from the loaded MiniLM.
  assert max(np.abs(a - np.asarray(b)).max() for a, b in
             zip(jax.tree.leaves(state.params["text"]), jax.tree.leaves(result.text.params))) > 0
  # EMA <- decay * EMA + (1 - decay) * params, step 3 -> 4 (both checkpoints kept).
  _, three = runs.saved_state(tmp_path, 3)
  for e4, e3, p4 in zip(*(jax.tree.leaves(t) for t in (state.ema, three["ema"], state.params))):
    np.testing.assert_allclose(e4, 0.5 * e3 + 0.5 * p4, rtol=1e-6, atol=1e-7)
  assert any(np.abs(e - p).max() > 0
             for e, p in zip(jax.tree.leaves(state.ema), jax.tree.leaves(state.params)))
  # What inference loads is the EMA of the latest step, text tower included.
  _, _, image, text_params, step = checkpoints.restore_params(config, tmp_path)
  assert step == 4
  for a, b in zip(jax.tree.leaves((image, text_params)),
                  jax.tree.leaves((state.ema["image"], state.ema["text"]))):
    np.testing.assert_array_equal(a, b)
  # clu's TensorBoard writer saw the same scalars as metrics.jsonl.
  scalars = _event_scalars(tmp_path)
  assert sorted(scalars["eval/psnr"]) == [3, 4]
  for s in (2, 3, 4):
    assert scalars["loss/total"][s] == pytest.approx(metrics[s]["loss/total"], rel=1e-6)


def test_library_chatter_is_dropped_and_warnings_that_matter_kept():
  quiet = quiet_logs.QuietLibraries()

  def record(path, level, message):
    return logging.LogRecord("absl", level, path, 1, message, None, None)
  orbax = "/venv/site-packages/orbax/checkpoint/checkpoint_manager.py"
  assert not quiet.filter(record(orbax, logging.INFO, "Saving checkpoint at step 100"))
  assert not quiet.filter(record(orbax, logging.WARNING,
                                 "Requested `tracked_metric`; did not provide metrics."))
  assert not quiet.filter(record(orbax, logging.WARNING,
                                 "Given directory is read only=/runs/a/checkpoints"))
  assert quiet.filter(record(orbax, logging.WARNING, "No space left on device"))
  assert quiet.filter(record("/repo/nalsuper_jax/train.py", logging.INFO, "step 100"))
