"""tcmalloc preloading: the process restarts once with the library, keeps its
arguments, can be turned off, never loops, and every entry point asks for it."""

import os
import pathlib
import subprocess
import sys

import pytest

from nalsuper_jax import allocator
from tests import ROOT

# Prints a line before preload() (so a restart shows as two), then what it runs with.
_SCRIPT = """
import os, sys
print("start", flush=True)
from nalsuper_jax import allocator
allocator.preload()
print(allocator.loaded(), sys.argv[1:])
"""


def _env(**env):
  clean = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", allocator.ENV, allocator.TRIED_ENV)}
  return clean | env


def _run(argv, **env):
  return subprocess.run(argv, cwd=ROOT, env=_env(**env), capture_output=True, text=True,
                        timeout=300)


def _script(**env):
  out = _run([sys.executable, "-c", _SCRIPT, "a b", "--c"], **env)
  assert out.returncode == 0, out.stderr[-2000:]
  lines = out.stdout.splitlines()
  return lines.count("start"), lines[-1], out.stderr


@pytest.fixture(name="not_a_library")
def fixture_not_a_library(tmp_path):
  """A file the dynamic loader refuses (and says so on stderr)."""
  path = tmp_path / "libtcmalloc_minimal.so.4"
  path.write_text("not an ELF file")
  return str(path)


def test_restarts_once_with_tcmalloc_and_the_same_arguments():
  if allocator.library() is None:
    pytest.skip("no tcmalloc here (`make setup` fetches Debian's libtcmalloc-minimal4)")
  assert _script()[:2] == (2, "True ['a b', '--c']")


def test_empty_setting_keeps_the_system_malloc():
  assert _script(**{allocator.ENV: ""})[:2] == (1, "False ['a b', '--c']")


def test_a_library_the_loader_refuses_costs_one_restart(not_a_library):
  starts, last, stderr = _script(**{allocator.ENV: not_a_library})
  assert (starts, last) == (2, "False ['a b', '--c']")
  assert "cannot be preloaded" in stderr


def test_missing_library_is_an_error_naming_the_setting(tmp_path):
  out = _run([sys.executable, "-c", _SCRIPT], **{allocator.ENV: str(tmp_path / "none.so")})
  assert out.returncode == 1 and out.stdout.splitlines() == ["start"]
  assert f"{allocator.ENV}={tmp_path / 'none.so'}: no such file" in out.stderr


@pytest.mark.slow  # five tools start (JAX and TensorFlow imports: seconds each)
@pytest.mark.parametrize("argv", [
    ["main.py", "--help"],
    ["-m", "bench.model_cost", "--help"],
    ["-m", "nalsuper_jax.enhance", "--help"],
    [str(pathlib.Path(sys.executable).parent / "nalsuper-enhance"), "--help"],
    [str(pathlib.Path(sys.executable).parent / "nalsuper-export"), "--help"],
], ids=["main.py", "bench", "-m nalsuper_jax", "nalsuper-enhance", "nalsuper-export"])
def test_entry_points_preload(argv, not_a_library):
  """The loader's complaint about the library shows that the process restarted with it."""
  command = argv if argv[0].startswith("/") else [sys.executable, *argv]
  out = _run(command, **{allocator.ENV: not_a_library})  # (absl's --help exits with 1)
  assert "--help" in out.stdout, out.stderr[-2000:]  # its help, printed after the restart
  assert "cannot be preloaded" in out.stderr


def test_importing_bench_elsewhere_leaves_the_process_alone(not_a_library):
  out = _run([sys.executable, "-c", "import bench.common"], **{allocator.ENV: not_a_library})
  assert out.returncode == 0 and "cannot be preloaded" not in out.stderr, out.stderr[-2000:]
