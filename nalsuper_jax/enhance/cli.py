"""`nalsuper-enhance`: brighten photos with a trained model and a prompt.

  nalsuper-enhance --output=out/ photo.jpg                      # the shipped model
  nalsuper-enhance --workdir=workdirs/demo/default --output=out/ photos/ "raw/*.png"
  nalsuper-enhance --checkpoint=run/checkpoints/600 --prompt="a bright photo" --output=out/ a.jpg

Inputs are files, folders (every image inside, recursively, keeping the
sub-folder layout) and globs. Each output keeps its input's format, bit depth,
grayscale-ness and alpha. A file that fails is reported on one line and the
rest continue; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import glob
import os
import pathlib
import sys
import time
from typing import Iterable, Sequence

from tqdm import tqdm

from nalsuper_jax import quiet_logs
from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.data import images
from nalsuper_jax.data.images import ImageError
from nalsuper_jax.enhance import photo_io, usage
from nalsuper_jax.enhance.enhancer import (ACCELERATOR_TILE, DEFAULT_OVERLAP, DEFAULT_TILE,
                                           Enhancer, default_tile)

PROG = "nalsuper-enhance"


def _parser() -> argparse.ArgumentParser:
  p = usage.Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                   formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
  src = p.add_mutually_exclusive_group()
  src.add_argument("--workdir", help="a training workdir (config.json + checkpoints/); "
                   "neither this nor --checkpoint: the model shipped in the package")
  src.add_argument("--checkpoint", help="one checkpoint: <workdir>/checkpoints/<step>")
  p.add_argument("--which", type=usage.checkpoint_choice, default="latest",
                 help="with --workdir: latest, best (by eval PSNR) or a step number")
  p.add_argument("--output", required=True, help="folder for the enhanced images")
  p.add_argument("--prompt", default=None,
                 help="description of the wanted result (default: the config's default prompt)")
  p.add_argument("--keep-exposure-words", action="store_true",
                 help="re-expose each result into the brightness the prompt's exposure words "
                      "name (a prompt \"a dim photo\" or a caption ending in appearance words; "
                      "other prompts are left as the network made them)")
  p.add_argument("--suffix", default="", help="appended to each output's file stem")
  p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
  p.add_argument("--tile", type=int, default=None,
                 help="images with a side above this are processed in overlapping tiles "
                      f"(default {DEFAULT_TILE} on a CPU, {ACCELERATOR_TILE} on a GPU/TPU)")
  p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="tile overlap in pixels")
  p.add_argument("--jpeg-quality", type=int, default=95)
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  return p


def expand(inputs: Sequence[str], output: pathlib.Path | None = None,
           suffix: str = "") -> tuple[list[tuple[pathlib.Path, pathlib.Path]], list[str]]:
  """(file, path relative to the output folder) pairs, and inputs that matched nothing.

  A folder's files inside `output` are left out: they are earlier outputs,
  and enhancing them again would give `p_x_x.png` or `out/out/p.png`. When
  `output` is the folder itself, only files ending in `suffix` are left out.
  """
  found, missing = [], []
  out = output.resolve() if output is not None else None

  def earlier_output(f: pathlib.Path, folder: pathlib.Path) -> bool:
    if out is None:
      return False
    if out == folder.resolve():
      return bool(suffix) and f.stem.endswith(suffix)
    return f.resolve().is_relative_to(out)

  for item in inputs:
    path = pathlib.Path(item)
    if path.is_dir():
      files = sorted(f for f in path.rglob("*") if f.is_file() and images.is_image(f)
                     and not earlier_output(f, path))
      found += [(f, f.relative_to(path)) for f in files]
      if not files:
        missing.append(f"{item}: folder holds no {'/'.join(images.IMAGE_SUFFIXES)} images"
                       + (" outside --output" if out is not None else ""))
    elif path.is_file():
      found.append((path, pathlib.Path(path.name)))
    elif glob.has_magic(item):
      files = sorted(pathlib.Path(f) for f in glob.glob(item, recursive=True)
                     if os.path.isfile(f))
      found += [(f, pathlib.Path(f.name)) for f in files]
      if not files:
        missing.append(f"{item}: no file matches")
    else:
      missing.append(f"{item}: no such file or folder")
  return found, missing


def output_path(output: pathlib.Path, relative: pathlib.Path, suffix: str) -> pathlib.Path:
  return output / relative.with_name(relative.stem + suffix + relative.suffix)


def _progress(items: list, quiet: bool) -> Iterable:
  if quiet:
    return items
  return tqdm(items, unit="file", file=sys.stderr, dynamic_ncols=True)


def _checked(args: argparse.Namespace) -> None:
  """Every argument check that needs no model (UsageError: exit 2)."""
  if not 1 <= args.jpeg_quality <= 100:
    raise usage.UsageError(f"--jpeg-quality={args.jpeg_quality}: expected 1..100")
  if "/" in args.suffix or os.sep in args.suffix:
    raise usage.UsageError(f"--suffix={args.suffix!r}: contains a path separator; "
                           "expected text appended to the file stem")
  usage.output_folder(args.output)
  args.tile = default_tile() if args.tile is None else args.tile
  if not args.workdir and not args.checkpoint:
    usage.tile_options(args.tile, args.overlap, usage.shipped_multiple())
    return
  if args.workdir:
    workdir, which = args.workdir, args.which
  else:
    step_dir = pathlib.Path(args.checkpoint)
    if not step_dir.name.isdigit() or step_dir.parent.name != "checkpoints":
      raise usage.UsageError(f"--checkpoint={args.checkpoint}: expected "
                             "<workdir>/checkpoints/<step>")
    workdir, which = step_dir.parent.parent, int(step_dir.name)
  args.workdir, args.which = str(workdir), which
  usage.tile_options(args.tile, args.overlap, usage.workdir_multiple(workdir, which))


def main(argv: Sequence[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  quiet_logs.install()
  try:
    _checked(args)
  except usage.UsageError as e:
    usage.fail(PROG, str(e))
  start = time.perf_counter()
  output = pathlib.Path(args.output)
  files, missing = expand(args.inputs, output, args.suffix)
  for line in missing:
    print(f"{PROG}: {line}", file=sys.stderr)
  try:
    options = dict(tile=args.tile, overlap=args.overlap,
                   keep_exposure_words=args.keep_exposure_words)
    enhancer = None if not files else (
        Enhancer.from_workdir(args.workdir, args.which, **options) if args.workdir
        else Enhancer.pretrained(**options))
  except CheckpointError as e:
    usage.report(PROG, e)
    return 1
  if enhancer is not None and (warning := enhancer.prompt_warning(args.prompt)):
    print(f"{PROG}: warning: {warning}", file=sys.stderr)
  done = skipped = 0
  failed = len(missing)
  claimed: dict[pathlib.Path, pathlib.Path] = {}
  for source, relative in _progress(files, args.quiet):
    target = output_path(output, relative, args.suffix)
    try:
      if target.resolve() == source.resolve():
        raise ImageError(f"{source}: output would replace the input; use another --output "
                         "or a --suffix")
      if target in claimed:
        raise ImageError(f"{source}: output {target} already written for {claimed[target]}")
      claimed[target] = source
      if target.exists() and not args.overwrite:
        skipped += 1
        print(f"{PROG}: skipped: {target} exists (pass --overwrite to replace it)",
              file=sys.stderr)
        continue
      photo = photo_io.read_photo(source)
      enhanced = enhancer(photo.pixels, prompt=args.prompt)
      try:
        photo_io.write_photo(target, enhanced, jpeg_quality=args.jpeg_quality)
      except OSError as e:
        raise ImageError(f"{target}: could not write ({e.strerror or e}); expected a "
                         "writable folder with free space") from None
      done += 1
    except (ImageError, ValueError) as e:
      failed += 1
      usage.report(PROG, e)
  seconds = time.perf_counter() - start
  print(f"{PROG}: {done} enhanced, {skipped} skipped, {failed} failed "
        f"in {seconds:.1f} s -> {output}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
