"""`nalsuper-enhance`: brighten photos with a trained model and a prompt.

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
from typing import TYPE_CHECKING, Iterable, Sequence

from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.data.images import ImageError
from nalsuper_jax.enhance import photo_io

if TYPE_CHECKING:
  from nalsuper_jax.enhance.enhancer import Enhancer


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="nalsuper-enhance", description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
  src = p.add_mutually_exclusive_group(required=True)
  src.add_argument("--workdir", help="a training workdir (config.json + checkpoints/)")
  src.add_argument("--checkpoint", help="one checkpoint: <workdir>/checkpoints/<step>")
  p.add_argument("--which", choices=("latest", "best"), default="latest",
                 help="with --workdir: the latest checkpoint or the best by eval PSNR")
  p.add_argument("--output", required=True, help="folder for the enhanced images")
  p.add_argument("--prompt", default=None,
                 help="description of the wanted result (default: the config's default prompt)")
  p.add_argument("--suffix", default="", help="appended to each output's file stem")
  p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
  p.add_argument("--tile", type=int, default=1024,
                 help="images with a side above this are processed in overlapping tiles")
  p.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels")
  p.add_argument("--jpeg-quality", type=int, default=95)
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  return p


def expand(inputs: Sequence[str]) -> tuple[list[tuple[pathlib.Path, pathlib.Path]], list[str]]:
  """(file, path relative to the output folder) pairs, and inputs that matched nothing."""
  found, missing = [], []
  for item in inputs:
    path = pathlib.Path(item)
    if path.is_dir():
      files = sorted(f for f in path.rglob("*") if f.is_file()
                     and f.suffix.lower() in photo_io.READ_SUFFIXES)
      found += [(f, f.relative_to(path)) for f in files]
      if not files:
        missing.append(f"{item}: folder holds no {'/'.join(photo_io.READ_SUFFIXES)} images")
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
  from tqdm import tqdm  # pylint: disable=import-outside-toplevel
  return tqdm(items, unit="file", file=sys.stderr, dynamic_ncols=True)


def _load(args) -> Enhancer:
  from nalsuper_jax.enhance.enhancer import Enhancer  # pylint: disable=import-outside-toplevel,redefined-outer-name
  options = dict(tile=args.tile, overlap=args.overlap)
  if args.workdir:
    return Enhancer.from_workdir(args.workdir, args.which, **options)
  step_dir = pathlib.Path(args.checkpoint)
  if not step_dir.name.isdigit() or step_dir.parent.name != "checkpoints":
    raise SystemExit(f"--checkpoint={args.checkpoint}: expected <workdir>/checkpoints/<step>")
  return Enhancer.from_workdir(step_dir.parent.parent, int(step_dir.name), **options)


def main(argv: Sequence[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  start = time.perf_counter()
  files, missing = expand(args.inputs)
  for line in missing:
    print(f"error: {line}", file=sys.stderr)
  output = pathlib.Path(args.output)
  try:
    enhancer = _load(args) if files else None
  except CheckpointError as e:
    print(f"nalsuper-enhance: {e}", file=sys.stderr)
    return 1
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
        print(f"skipped: {target} exists (pass --overwrite to replace it)", file=sys.stderr)
        continue
      photo = photo_io.read_photo(source)
      enhanced = enhancer(photo.pixels, prompt=args.prompt)
      photo_io.write_photo(target, enhanced, jpeg_quality=args.jpeg_quality)
      done += 1
    except (ImageError, OSError, ValueError) as e:
      failed += 1
      print(f"error: {e}", file=sys.stderr)
  seconds = time.perf_counter() - start
  print(f"nalsuper-enhance: {done} enhanced, {skipped} skipped, {failed} failed "
        f"in {seconds:.1f} s -> {output}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
