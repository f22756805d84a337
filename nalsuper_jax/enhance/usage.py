"""Checks the command-line tools make before any model or dataset loads.

Loading a model takes seconds to minutes; a mistyped argument must not cost
that, nor end in a traceback. Every check here reads only small files
(`config.json`, folder listings) and raises `UsageError` with one line:
`<argument or file>: <what was wrong>; <what was expected>`. `Parser` turns
argparse's own errors into the same one line, and both exit with status 2.
`NALSUPER_DEBUG=1` in the environment adds the traceback (`report`).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import traceback
from typing import NoReturn

from nalsuper_jax import checkpoints, shipped
from nalsuper_jax.enhance import tiling
from nalsuper_jax.models import NaLSuperConfig

USAGE_EXIT = 2  # argparse's status for usage errors; ours match it
DEBUG_ENV = "NALSUPER_DEBUG"  # set to 1: tracebacks above the one-line messages


class UsageError(ValueError):
  """A command-line argument is wrong; found before anything heavy ran."""


class Parser(argparse.ArgumentParser):
  """argparse with one-line errors (`<prog>: <message>`) and exit status 2."""

  def error(self, message: str) -> NoReturn:
    fail(self.prog, message)


def fail(prog: str, message: str) -> NoReturn:
  print(f"{prog}: {message}", file=sys.stderr)
  sys.exit(USAGE_EXIT)


def debugging() -> bool:
  return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def report(prog: str, error: BaseException) -> None:
  """One line for the user; with NALSUPER_DEBUG=1 the traceback before it."""
  if debugging():
    traceback.print_exception(error)
  print(f"{prog}: {error}", file=sys.stderr)


def checkpoint_choice(value: str) -> str | int:
  """--which / --checkpoint values: latest, best or a step number."""
  if value in ("latest", "best"):
    return value
  if value.isdigit():
    return int(value)
  raise argparse.ArgumentTypeError(f"{value!r}; expected latest, best or a step number")


def workdir_multiple(workdir: str | os.PathLike, which: str | int = "latest") -> int:
  """Checks a training workdir holds a config and the wanted checkpoint; returns the
  network's size multiple (tiles and fixed export sizes must be multiples of it)."""
  path = pathlib.Path(workdir)
  where = f"--workdir={workdir}"
  if not path.is_dir():
    raise UsageError(f"{where}: no such folder; expected a training workdir "
                     "(config.json + checkpoints/)")
  if not (path / checkpoints.CONFIG_FILE).is_file():
    raise UsageError(f"{where}: no {checkpoints.CONFIG_FILE}; expected a training workdir "
                     "written by main.py")
  steps = sorted(int(p.name) for p in (path / checkpoints.CHECKPOINT_DIR).glob("*")
                 if p.name.isdigit() and p.is_dir())
  if not steps:
    raise UsageError(f"{where}: no checkpoints in {checkpoints.CHECKPOINT_DIR}/; "
                     "expected a workdir that has trained (run main.py first)")
  if isinstance(which, int) and which not in steps:
    raise UsageError(f"{where}: no checkpoint at step {which}; have {steps}")
  return _config_multiple(path)


def _config_multiple(folder: pathlib.Path) -> int:
  """The size multiple of the network that `<folder>/config.json` describes."""
  try:
    config = checkpoints.read_config(folder)
    return NaLSuperConfig.from_config(config.model).multiple
  except (checkpoints.CheckpointError, ValueError, KeyError, TypeError) as e:
    raise UsageError(f"{folder / checkpoints.CONFIG_FILE}: {e}") from None


def shipped_multiple() -> int:
  """The shipped model's size multiple; a UsageError when none is shipped."""
  folder = shipped.SHIPPED_DIR
  if not (folder / shipped.WEIGHTS_FILE).is_file() or not (folder / shipped.CONFIG_FILE).is_file():
    raise UsageError(f"{folder}: no shipped model; pass --workdir (or train "
                     "the shipped one with `make pretrained`)")
  return _config_multiple(folder)


def tile_options(tile: int, overlap: int, multiple: int) -> None:
  """--tile/--overlap by the Enhancer's own rule (`tiling.check_options`)."""
  try:
    tiling.check_options(tile, overlap, multiple)
  except ValueError as e:
    raise UsageError(f"--{e}") from None


def output_folder(output: str | os.PathLike) -> pathlib.Path:
  """The --output folder: an existing writable folder, or one that can be made."""
  path = pathlib.Path(output)
  existing = next((p for p in (path, *path.parents) if p.exists()), None)
  if path.exists() and not path.is_dir():
    raise UsageError(f"--output={output}: is a file; expected a folder")
  if existing is not None and not existing.is_dir():
    raise UsageError(f"--output={output}: {existing} is a file; expected a folder")
  if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
    raise UsageError(f"--output={output}: {existing} is not writable; expected a folder "
                     "you can write to")
  return path
