"""Shared by the bench scripts: machine description and atomic result files."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
from typing import Any

import jax

from nalsuper_jax import files


def machine() -> dict[str, Any]:
  return {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
          "backend": jax.default_backend(), "devices": [d.device_kind for d in jax.devices()],
          "jax": jax.__version__, "python": platform.python_version(),
          "date": datetime.date.today().isoformat()}


def record(name: str, payload: dict[str, Any], out: str = "bench/results") -> pathlib.Path:
  """Writes bench/results/<name>-<backend>-<date>.json (temp name, then rename)."""
  info = machine() | payload
  folder = pathlib.Path(out)
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / f"{name}-{info['backend']}-{info['date']}.json"
  files.write_atomic(path, json.dumps(info, indent=2))
  return path
