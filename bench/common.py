"""Shared by the bench scripts: machine description and atomic result files."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import zlib
from typing import Any, Sequence

import jax
import numpy as np

from nalsuper_jax import allocator, files
from nalsuper_jax.data import degrade, pipeline
from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as synthetic

# Issue #14's bar for a model we show: its PSNR at least this far above the best
# non-oracle baseline (gamma, CLAHE), for the demo on every seed and for the
# shipped model on held-out photos. Below it, classical tone curves are nearly as good.
MIN_MARGIN_DB = 3.0


# Where `make demo` builds `synthetic_lowlight` (its DEMO_DIR/tfds): the bench
# scripts that train on it read the same copy, so a run builds it at most once.
DEMO_DATA_DIR = "workdirs/demo/tfds"


def ensure_demo_data(data_dir: str = DEMO_DATA_DIR, name: str = "synthetic_lowlight") -> str:
  """Builds `name` (`synthetic_lowlight[/<config>]`) into `data_dir` unless it
  is there; returns the absolute path (the trainings run in subprocesses with
  their own cwd)."""
  data_dir = os.path.abspath(data_dir)
  dataset, _, config = name.partition("/")
  if dataset != "synthetic_lowlight":
    raise ValueError(f"data.name={name!r}: the bench scripts build only synthetic_lowlight[/<config>]")
  builder = synthetic.Builder(data_dir=data_dir, config=config or None)
  if not (pathlib.Path(builder.data_dir) / "dataset_info.json").exists():
    builder.download_and_prepare()
  return data_dir


# Validation splits (choosing a recipe without looking at the test split):
# training examples whose stored reference is darkened afresh, with noise draws
# from this seed, which no stored `low` used (the builders seed by their own).
VALIDATION_SEED = 20261128


def redarkened(source: Sequence[dict], degradation: degrade.DegradeConfig, n: int,
               seed: int = VALIDATION_SEED) -> list[dict]:
  """`n` examples evenly spaced over `source` (an indexable split), each `low`
  regenerated from its stored `high` by `degradation` without re-exposure (the
  stored `high` already is the target its caption describes), seeded per name
  so every model is scored on the same inputs."""
  as_shot = degrade.without_reexposure(degradation)
  picked = [source[round(i * len(source) / n)] for i in range(min(n, len(source)))]
  out = []
  for example in picked:
    rng = np.random.default_rng([seed, zlib.crc32(pipeline.text(example["name"]).encode())])
    low, _ = degrade.degrade(np.asarray(example["high"], np.uint8), rng, as_shot)
    out.append(example | {"low": low})
  return out


def best_baseline(table: dict[str, dict[str, float]]) -> str:
  """The non-oracle baseline (gamma or CLAHE) with the higher PSNR in `table`:
  what a model's margin is measured against."""
  return max(("gamma", "clahe"), key=lambda name: table[name]["psnr"])


# A bench child process (run for its own core mask, XLA flags or peak memory)
# reports on one stdout line: this prefix, then JSON.
RESULT = "RESULT "


def print_result(row: dict[str, Any]) -> None:
  """In a child process: the line `run_child` reads back."""
  print(RESULT + json.dumps(row), flush=True)


def run_child(cmd: list[str], what: str, env: dict[str, str] | None = None) -> dict[str, Any]:
  """Runs `cmd` and returns the row it printed with `print_result`; a child that
  fails or prints none stops the bench, naming `what`, with the child's stderr."""
  run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
  lines = [l for l in run.stdout.splitlines() if l.startswith(RESULT)]
  if run.returncode or not lines:
    raise SystemExit(f"{what}: failed\n{run.stderr[-3000:]}")
  return json.loads(lines[-1][len(RESULT):])


def command(module: str, argv: list[str] | None) -> str:
  """How a results file says it was made: `python -m bench.<module> <arguments>`."""
  return " ".join(["python -m bench." + module, *(sys.argv[1:] if argv is None else argv)])


def machine() -> dict[str, Any]:
  return {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
          "backend": jax.default_backend(), "devices": [d.device_kind for d in jax.devices()],
          "jax": jax.__version__, "python": platform.python_version(),
          "malloc": "tcmalloc" if allocator.loaded() else "system",
          "date": datetime.date.today().isoformat()}


def record(name: str, payload: dict[str, Any], out: str = "bench/results") -> pathlib.Path:
  """Writes bench/results/<name>-<backend>-<date>.json (temp name, then rename)."""
  info = machine() | payload
  folder = pathlib.Path(out)
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / f"{name}-{info['backend']}-{info['date']}.json"
  files.write_atomic(path, json.dumps(info, indent=2))
  return path
