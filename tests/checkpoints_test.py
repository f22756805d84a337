"""Checkpoints a week-long run can trust: best kept, resumes validated, bad steps caught."""

import inspect
import pathlib
import re
import shutil
import subprocess
import sys
import types

import imageio.v3 as iio
import numpy as np
import pytest
from orbax.checkpoint._src.serialization import serialization

from nalsuper_jax import checkpoints, evaluate, train
from nalsuper_jax.enhance import Enhancer, cli
from tests import ROOT, runs


def _steps(workdir):
  return sorted(int(p.name) for p in (pathlib.Path(workdir) / "checkpoints").iterdir()
                if p.name.isdigit())


def _fake_evaluator(psnr_by_step):
  """Injected eval metrics: the trainer must hand them to Orbax unchanged."""
  def evaluator(model, text, params, step, writer):
    del model, text, params, writer
    return {"psnr": psnr_by_step[step], "ssim": 0.5}
  return evaluator


def test_a_field_added_since_at_its_none_default_is_no_config_change():
  old = {"train": {"steps": 12}}
  new = {"train": {"steps": 12, "init_from": None}}
  assert checkpoints.config_differences(old, new) == []
  new["train"]["init_from"] = "shipped"
  assert checkpoints.config_differences(old, new) == [
      "config.train.init_from: <absent> -> shipped"]
  assert checkpoints.config_differences({"train": {"steps": None}}, old) == [
      "config.train.steps: None -> 12"]


@pytest.mark.slow
def test_best_checkpoint_is_kept_through_saves_and_resumes_and_selected(data_dir, tmp_path):
  config = runs.config(data_dir, steps=12, eval_every=4, checkpoint_every=4, keep_checkpoints=1)
  evaluator = _fake_evaluator({4: 30.0, 8: 20.0, 12: 10.0, 16: 25.0})
  train.run(config, tmp_path, evaluator=evaluator)
  assert _steps(tmp_path) == [4, 12]           # best (4) + latest (12); 8 dropped
  config.train.steps = 16
  train.run(config, tmp_path, evaluator=evaluator)   # resume: 4 must survive
  assert _steps(tmp_path) == [4, 16]
  assert train.read_metrics(tmp_path)[4]["eval/psnr"] == 30.0
  mgr = checkpoints.manager(checkpoints.workdir_path(tmp_path), config.train, read_only=True)
  assert checkpoints.select_step(mgr, "best") == 4
  assert checkpoints.select_step(mgr, "latest") == 16
  mgr.close()
  assert Enhancer.from_workdir(tmp_path, "best").step == 4
  assert evaluate.run(config, tmp_path, checkpoint="best")["step"] == 4


@pytest.mark.slow
def test_best_without_eval_metrics_says_so(data_dir, trained_run):
  config = runs.trained_config(data_dir)   # trained without evaluation: no metrics saved
  with pytest.raises(checkpoints.CheckpointError, match=r"no checkpoint has an eval psnr"):
    checkpoints.restore_params(config, trained_run, "best")
  with pytest.raises(checkpoints.CheckpointError,
                     match=r"no checkpoint at step 3; have \[8, 12\]"):
    checkpoints.restore_params(config, trained_run, 3)


@pytest.mark.slow
def test_resume_validates_before_it_writes(data_dir, trained_run, tmp_path):
  config = runs.trained_config(data_dir)
  workdir = tmp_path / "run"
  shutil.copytree(trained_run, workdir)
  before = {p: p.read_bytes() for p in [workdir / "config.json", workdir / "metrics.jsonl"]}
  listing = sorted(str(p) for p in workdir.rglob("*"))
  wider = runs.trained_config(data_dir, steps=16)
  wider.model.channels = 16
  with pytest.raises(checkpoints.CheckpointError) as e:
    train.run(wider, workdir)
  message = str(e.value)
  assert "\n" not in message
  assert re.search(r"checkpoints/12: parameter image/\S+ has shape \([\d, ]+\) in the "
                   r"checkpoint but \([\d, ]+\) in the model built from the config", message)
  assert "config.model.channels: 8 -> 16" in message
  shorter = runs.trained_config(data_dir, steps=2)
  result = train.run(shorter, workdir)
  assert result.already_trained and result.config_changes == ("config.train.steps: 12 -> 2",)
  assert train.run(config, workdir).config_changes == ()
  assert {p: p.read_bytes() for p in before} == before   # nothing rewritten
  assert sorted(str(p) for p in workdir.rglob("*")) == listing
  # The same through main.py: one line, non-zero exit; and "already trained"
  # exits 0, naming a changed recipe rather than taking it for the one trained.
  main = [sys.executable, "main.py", "--config=configs/tiny.py", f"--workdir={workdir}",
          f"--config.data.data_dir={data_dir}", "--mode=train", *runs.TRAINED_FLAGS]
  out = subprocess.run(main + ["--config.model.channels=16", "--config.train.steps=16"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
  assert out.stderr.strip().splitlines()[-1].startswith("main.py: ")
  out = subprocess.run(main + ["--config.data.caption_default=0.3"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0 and "already trained to step 12" in out.stdout, out.stderr[-3000:]
  assert ("saved under another config (config.data.caption_default: "
          f"{config.data.caption_default} -> 0.3); to train this one, use a new --workdir"
          ) in out.stdout
  assert {p: p.read_bytes() for p in before} == before


def _data_files(step_dir):
  """The array chunk files of a step's state (params, EMA, optimizer moments).

  Files under `state/d/` directly are OCDBT index nodes; damaging those makes
  the step unreadable, which the same path handles, but this test aims at
  the array data itself.
  """
  return sorted(p for p in (step_dir / "state").glob("ocdbt.process_*/d/*")
                if p.is_file() and p.stat().st_size > 30_000)


def test_fingerprint_catches_finite_garbage():
  """Orbax stores no checksum: a flipped byte can restore as a finite wrong weight."""
  tree = {"a": np.linspace(-0.1, 0.1, 64, dtype=np.float32).reshape(8, 8),
          "b": np.ones(3, np.float32), "n": np.arange(4)}
  saved = checkpoints.fingerprint(tree)
  assert set(saved) == {"a", "b"}                   # floating leaves only
  assert not checkpoints.damaged_leaves(tree, saved)
  raw = bytearray(tree["a"].tobytes())
  raw[103] ^= 0x01                                 # an exponent bit of weight 25 (x4 or /4)
  flipped = dict(tree, a=np.frombuffer(bytes(raw), np.float32).reshape(8, 8))
  assert np.isfinite(flipped["a"]).all()
  assert checkpoints.damaged_leaves(flipped, saved) == ["a (checksum differs from the one saved)"]
  nan = dict(tree, b=np.array([1.0, np.nan, 1.0], np.float32))
  assert checkpoints.damaged_leaves(nan, saved) == ["b (non-finite values)"]


def _flip(path):
  """Inverts 16 bytes in every KiB of the file.

  A data file packs params, EMA and optimizer moments in an order that
  varies between runs; one damaged spot may land only in the moments, which
  inference never reads (CI saw exactly that). A stripe hits every array
  larger than a KiB, the weights inference loads included.
  """
  data = bytearray(path.read_bytes())
  for start in range(512, len(data) - 16, 1024):
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
  path.write_bytes(bytes(data))


def _truncate(path):
  """Cuts the file to its first 64 bytes.

  As with `_flip`, the writer's order of arrays varies between runs: keeping
  a third of the file once left every weight inference reads intact (a CI
  flake), so the cut lands before any array of useful size.
  """
  path.write_bytes(path.read_bytes()[:64])


def _unraisable(value, obj):
  return types.SimpleNamespace(exc_type=type(value), exc_value=value, exc_traceback=None,
                               err_msg=None, object=obj)


def test_a_failed_restores_leftover_reads_print_nothing_else_does(monkeypatch):
  """Orbax closes its event loop when one read fails; the reads still in flight
  then report through sys.unraisablehook (thousands of lines after the one-line
  error). Those two kinds are dropped, nothing else, and installing twice
  wraps once."""
  seen = []
  monkeypatch.setattr(sys, "unraisablehook", seen.append)
  checkpoints.quiet_orphaned_reads()
  checkpoints.quiet_orphaned_reads()
  read = serialization._read_array_index_and_device_put
  orbax_read = read(**{name: None for name in inspect.signature(read).parameters})
  orbax_read.close()   # never started: closing runs none of its body

  async def ours():
    pass
  own = ours()
  own.close()
  kept = [_unraisable(RuntimeError("Event loop is not running"), None),
          _unraisable(RuntimeError("Event loop is closed"), object()),
          _unraisable(ValueError("ours"), own)]
  for u in [_unraisable(Exception("Encountered error while reading array index"), orbax_read),
            _unraisable(RuntimeError("Event loop is closed"), None), *kept]:
    sys.unraisablehook(u)
  assert seen == kept


@pytest.fixture(scope="module")
def trained(trained_run):
  assert _steps(trained_run) == [8, 12]  # the tiny config keeps 2
  return trained_run


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_flip, _truncate])
def test_a_bad_checkpoint_is_caught_and_training_falls_back(trained, data_dir, tmp_path,
                                                           damage, caplog, capsys):
  workdir = tmp_path / "run"
  shutil.copytree(trained, workdir)
  for path in _data_files(workdir / "checkpoints" / "12"):
    damage(path)
  # Inference refuses it: a clear error, never a black picture.
  with pytest.raises(checkpoints.CheckpointError, match=r"checkpoints/12: (damaged weights|params failed to restore|unreadable)"):
    Enhancer.from_workdir(workdir)
  photo = tmp_path / "in.png"
  iio.imwrite(photo, np.full((16, 16, 3), 20, np.uint8))
  assert cli.main(["--workdir", str(workdir), "--output", str(tmp_path / "out"), "--quiet",
                   str(photo)]) == 1
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith("nalsuper-enhance: ") and "checkpoints/12" in err[-1]
  assert "TensorStore({" not in err[-1]  # Orbax's spec dump is cut from the line
  assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
  # Training reports the bad step, moves it aside and resumes from step 8.
  config = runs.config(data_dir, steps=16, keep_checkpoints=2)
  with caplog.at_level("ERROR", logger="nalsuper_jax.checkpoints"):
    result = train.run(config, workdir)
  assert any("checkpoints/12 is bad" in r.getMessage() for r in caplog.records)
  assert (workdir / "checkpoints_corrupt" / "12").is_dir()
  assert result.step == 16 and _steps(workdir) == [12, 16]
  assert not checkpoints.damaged_leaves(result.state, {})
  assert Enhancer.from_workdir(workdir).step == 16
