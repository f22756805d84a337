"""JAX's persistent compilation cache, in the user's cache folder.

Compiling the network costs seconds in every new process (4.5 s for the
1080x1920 tile program on 2 CPU cores, `python -m bench.inference`,
2026-11-26; 0.96 s read back from the cache), and a photo tool that compiles
again for every call is slow where it matters most: the first photo. With the cache on, a program compiled once on this machine is
read back in later processes. `nalsuper-enhance`, `nalsuper-export`,
`Enhancer.from_workdir` and `main.py` call `enable()`.

Where: `$NALSUPER_CACHE_DIR` if set (empty: off), else JAX's own setting
(`JAX_COMPILATION_CACHE_DIR`) if set, else `$XDG_CACHE_HOME/nalsuper_jax/xla`
(default `~/.cache/nalsuper_jax/xla`). JAX keys entries by the program, the
compiler flags, the backend and the JAX version, so a stale entry is never
used; deleting the folder is always safe.
"""

from __future__ import annotations

import os
import pathlib

import jax

ENV = "NALSUPER_CACHE_DIR"
# Programs that compile faster than this are not worth a file (JAX's default is 1 s;
# the network's smallest programs take ~1-3 s on 2 cores).
MIN_COMPILE_SECONDS = 0.5


def default_dir() -> pathlib.Path:
  base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
  return pathlib.Path(base) / "nalsuper_jax" / "xla"


def enable(path: str | os.PathLike | None = None) -> str | None:
  """Turns the persistent cache on (once per process); returns its folder or None if off.

  An explicit `path` wins over the environment; a cache folder JAX already
  has (set by the user or an earlier call) is kept.
  """
  if path is None:
    if ENV in os.environ:
      path = os.environ[ENV] or None
      if path is None:
        return None
    elif jax.config.jax_compilation_cache_dir:
      return jax.config.jax_compilation_cache_dir
    else:
      path = default_dir()
  folder = pathlib.Path(path).expanduser()
  try:
    folder.mkdir(parents=True, exist_ok=True)
  except OSError:  # read-only home, etc.: compile as before rather than fail
    return None
  jax.config.update("jax_compilation_cache_dir", str(folder))
  if jax.config.jax_persistent_cache_min_compile_time_secs > MIN_COMPILE_SECONDS:
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  return str(folder)
