"""The persistent compilation cache: where it lives, how to turn it off, and
that a second process reads what the first compiled."""

import os
import subprocess
import sys

from tests import ROOT

_SCRIPT = """
import jax, jax.numpy as jnp
from nalsuper_jax import compile_cache
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
print(compile_cache.enable())
jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((8, 8))).block_until_ready()
print(sum(e.endswith("/cache_hits") for e in events), sum(e.endswith("/cache_misses") for e in events))
"""


def _run(**env):
  clean = {k: v for k, v in os.environ.items()
           if k not in ("JAX_COMPILATION_CACHE_DIR", "NALSUPER_CACHE_DIR", "XDG_CACHE_HOME")}
  # Cache even the test's millisecond compile (the library keeps programs of >= 0.5 s).
  clean |= {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", **env}
  out = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, env=clean,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  folder, counts = out.stdout.strip().splitlines()[-2:]
  hits, misses = (int(v) for v in counts.split())
  return folder, hits, misses


def test_second_process_reads_what_the_first_compiled(tmp_path):
  cache = tmp_path / "cache"
  folder, hits, misses = _run(NALSUPER_CACHE_DIR=str(cache))
  assert folder == str(cache) and hits == 0 and misses > 0
  assert any(cache.iterdir())
  folder, hits, misses = _run(NALSUPER_CACHE_DIR=str(cache))
  assert hits > 0 and misses == 0


def test_default_folder_follows_xdg_and_empty_turns_it_off(tmp_path):
  folder, _, _ = _run(XDG_CACHE_HOME=str(tmp_path / "xdg"))
  assert folder == str(tmp_path / "xdg" / "nalsuper_jax" / "xla")
  folder, hits, misses = _run(NALSUPER_CACHE_DIR="", XDG_CACHE_HOME=str(tmp_path / "xdg2"))
  assert folder == "None" and hits == misses == 0
  assert not (tmp_path / "xdg2").exists()
  # JAX's own setting is kept when ours is not given.
  folder, _, _ = _run(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax"))
  assert folder == str(tmp_path / "jax")
