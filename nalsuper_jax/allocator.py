"""tcmalloc for XLA on CPU: the entry points re-execute themselves with it preloaded.

Why: glibc's malloc hands every block over 32 MiB (its largest mmap threshold)
back to the kernel when it is freed, so each train step maps its large
activation buffers anew and faults every page in again. tcmalloc keeps freed
memory for reuse: a `small` 256x256 batch-8 train step on a 2-core Xeon took
5.3 s with it against 6.5-7.0 s with glibc, with a quarter of the page faults
and a lower peak memory (BENCHMARKS.md, "The memory allocator"). A process's
malloc is fixed when it starts, so `preload()` re-executes the process (same
interpreter, same arguments) with the library in LD_PRELOAD. `main.py`,
`nalsuper-enhance`, `nalsuper-export` and `python -m bench.<script>` call it
before their heavy imports, where the restart costs a fraction of a second
(`python -m nalsuper_jax.enhance` calls it after its package's imports: a
few seconds more).

Which library, the first found: `$NALSUPER_TCMALLOC` (a path; set but empty:
keep the system malloc), the copy `make setup` unpacks into the virtualenv
(`<venv>/lib/tcmalloc/`, from Debian's libtcmalloc-minimal4), the system's
(`ldconfig`). None found, or not Linux: nothing changes. For your own
programs: `LD_PRELOAD=$(python -m nalsuper_jax.allocator) python my_script.py`.
"""

from __future__ import annotations

import ctypes.util
import os
import pathlib
import sys

ENV = "NALSUPER_TCMALLOC"
SONAME = "libtcmalloc_minimal.so.4"
# Set across the re-execution, so that a library the loader refuses (it then
# says so on stderr) costs one restart, not a loop; children inherit it with LD_PRELOAD.
TRIED_ENV = "_NALSUPER_TCMALLOC_TRIED"
# tcmalloc reports each allocation over 1 GiB on stderr by default; one 32-channel
# activation of a whole 3840x2160 photo is that large (8.3 M pixels x 32 x 4 bytes).
_QUIET = {"TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD": str(1 << 40)}


def venv_copy() -> pathlib.Path:
  """Where `make setup` puts the library: inside the environment it installed."""
  return pathlib.Path(sys.prefix) / "lib" / "tcmalloc" / SONAME


def library() -> str | None:
  """The tcmalloc to preload (a path or a soname), or None for the system malloc."""
  if ENV in os.environ:
    path = os.environ[ENV]
    if path and not os.path.isfile(path):
      raise SystemExit(f"{ENV}={path}: no such file; expected the path of {SONAME}, "
                       "or empty to keep the system malloc")
    return path or None
  if venv_copy().is_file():
    return str(venv_copy())
  return ctypes.util.find_library("tcmalloc_minimal") if sys.platform == "linux" else None


def loaded() -> bool:
  """Whether this process runs with tcmalloc (its memory map names the library)."""
  try:
    with open("/proc/self/maps", encoding="utf-8") as f:
      return "libtcmalloc" in f.read()
  except OSError:
    return False


def preload() -> None:
  """Re-executes this process with tcmalloc preloaded, if one is found and not loaded yet.

  Call it first, before large imports: everything done before it is done twice.
  """
  if sys.platform != "linux" or not sys.executable or os.environ.get(TRIED_ENV) or loaded():
    return
  path = library()
  if path is None:
    return
  env = {**_QUIET, **os.environ, TRIED_ENV: "1",
         "LD_PRELOAD": ":".join(p for p in (path, os.environ.get("LD_PRELOAD")) if p)}
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, sys.orig_argv, env)


def preload_if_run_as_module() -> None:
  """`preload()` when this process is `python -m <package>.<module>`.

  For `bench/__init__.py`: Python sets sys.argv[0] to "-m" while it locates
  the module (the docs of -m), i.e. while the package is imported for it, so
  importing the package anywhere else (a test, a user's program) changes nothing.
  """
  if sys.argv[:1] == ["-m"]:
    preload()


if __name__ == "__main__":
  print(library() or "")
