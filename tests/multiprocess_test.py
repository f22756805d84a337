"""Two real processes (jax.distributed over localhost, gloo CPU collectives) running main.py.

What a multi-host user relies on: N processes train exactly like one process
over the same N devices (bit-identical losses and parameters; like one device
up to the order of the gradient all-reduce), each reads a disjoint part of
every batch, a SIGKILL of every process resumes to bit-identical parameters,
and evaluation writes the same report.
"""

import json
import pathlib
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from nalsuper_jax import evaluate
from tests import ROOT, runs
from tests.numerics import assert_close

pytestmark = pytest.mark.slow  # five main.py processes

STEPS = 12  # the tiny config's schedule: its train step compiles once per suite
# Losses of 1 vs 2 processes differ only by the all-reduce's summation order,
# amplified a little by Adam over the run; measured max relative ~1e-6.
LOSS_REL = 1e-4


def _port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(workdir, data_dir, *flags, processes=1, devices=1, mode="train"):
  """main.py as `processes` processes of one device each, or one process of
  `devices` devices."""
  cmd = [sys.executable, "main.py", "--config=configs/tiny.py", f"--workdir={workdir}",
         f"--config.data.data_dir={data_dir}", f"--mode={mode}",
         f"--config.train.steps={STEPS}", *runs.TRAINED_FLAGS,
         f"--config.train.keep_checkpoints={STEPS}",  # step 4 stays until the kill sees it
         *flags]
  if processes == 1:
    return [subprocess.Popen(cmd, cwd=ROOT, env=runs.host_devices_env(devices),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
  address = f"127.0.0.1:{_port()}"
  return [subprocess.Popen(cmd + ["--distributed", f"--coordinator_address={address}",
                                  f"--num_processes={processes}", f"--process_id={i}"],
                           cwd=ROOT, env=runs.host_devices_env(1), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True) for i in range(processes)]


def _wait(procs, timeout=600):
  outputs = [p.communicate(timeout=timeout)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-4000:]
  return outputs


def _names(workdir, process):
  rows = [json.loads(line) for line in
          (pathlib.Path(workdir) / "data_log" / f"process_{process}.jsonl").read_text().splitlines()]
  return {r["step"]: r["names"] for r in rows}  # a redone step counts by its last line


def test_two_processes_train_like_one_resume_exactly_and_evaluate_alike(data_dir, trained_run,
                                                                       tmp_path):
  # Two processes are SIGKILLed after their step-4 checkpoint and rerun with
  # --mode=train_and_eval. Their references: one process over two devices (the
  # same global computation, so the same bits: a two-operand all-reduce sums
  # in either order alike; a process other than 0 never writes the XLA cache,
  # so a run of two processes costs far more than this one), and the suite's
  # one-device run of the same config and global batch (`trained_run`, which
  # logs every loss and batch).
  two_devices, killed = tmp_path / "two_devices", tmp_path / "killed"
  procs = _start(killed, data_dir, processes=2)
  runs.wait_for_checkpoint(killed, 4, *procs)
  for p in procs:
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
  resumed_from = runs.final_params(killed)[0]
  assert resumed_from < STEPS  # it really stopped partway
  # One after another: three processes at once on a small machine cost more in all.
  _wait(_start(two_devices, data_dir, f"--config.train.checkpoint_every={STEPS}", devices=2))
  _wait(_start(killed, data_dir, processes=2, mode="train_and_eval"))
  config = runs.trained_config(data_dir)
  one = trained_run
  assert config.train.steps == STEPS

  # (a) the loss curve of two processes (a redone step counts by its last line)
  #     equals one process over two devices bit for bit: first the steps before
  #     the kill, then those after the resume; and one device's up to the
  #     all-reduce's summation order
  curve, same_devices = runs.loss_curve(killed, STEPS), runs.loss_curve(two_devices, STEPS)
  np.testing.assert_array_equal(curve[:resumed_from], same_devices[:resumed_from],
                                err_msg="two processes compute unlike one over two devices")
  np.testing.assert_array_equal(curve, same_devices, err_msg="the resumed steps differ")
  assert_close(curve, runs.loss_curve(one, STEPS), rel=LOSS_REL)
  # (b) each process reads a disjoint half of every global batch, and together the
  #     two halves are exactly the one-process batch (across the kill too)
  whole, first, second = _names(one, 0), _names(killed, 0), _names(killed, 1)
  assert sorted(whole) == sorted(first) == sorted(second) == list(range(1, STEPS + 1))
  for step in whole:
    assert not set(first[step]) & set(second[step]), step
    assert first[step] + second[step] == whole[step], step

  # (c) SIGKILL of both processes, then the same command: the parameters of an
  #     uninterrupted run, bit for bit
  runs.assert_same_final_params(two_devices, killed, STEPS)

  # (d) evaluation on two processes wrote the same summary.json as one process does
  summary = killed / "eval" / "test" / "summary.json"
  on_two = json.loads(summary.read_text())
  summary.unlink()
  evaluate.run(config, killed)
  on_one = json.loads(summary.read_text())
  assert on_two.keys() == on_one.keys() and on_two["num_images"] == 3
  for key, value in on_one.items():
    if isinstance(value, float):
      assert_close(on_two[key], value, rel=1e-6, err_msg=key)
    else:
      assert on_two[key] == value, key
