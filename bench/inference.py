"""Inference speed and peak memory through the `nalsuper-enhance` code path.

  python -m bench.inference [--workdir=workdirs/demo/default] [--sizes 400x600,1080x1920,2160x3840]

Each size runs in its own process (peak resident memory is a per-process
high-water mark): build the `Enhancer` (from --workdir, or a freshly
initialised network of --model size, which costs the same), enhance one
image to compile, then time --repeats calls. Images with a side above
--tile are tiled, exactly as `nalsuper-enhance` does; sizes in --untiled
run a second time as one whole image, for the tiled/untiled cost ratio.
These rows run with the persistent compilation cache off, so "compile s"
is a full compile. Then the cache check: two processes sharing a fresh cache
folder enhance two different --cache_size photos (the first is the tiled
--cache_size row when --sizes has one: it fills the empty folder, so its
compile is a full one all the same); the second process's
compile time is what a user waits for on a new photo once the machine has
compiled that size class. Prints tables and writes
bench/results/inference-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import jax
import numpy as np

from bench import common
from configs import default
from nalsuper_jax import checkpoints, compile_cache, models
from nalsuper_jax.enhance import Enhancer, tiling
from nalsuper_jax.enhance.enhancer import DEFAULT_OVERLAP, default_tile


def _enhancer(args):
  if args.workdir:
    return Enhancer.from_workdir(args.workdir, tile=args.tile, overlap=args.overlap)
  compile_cache.enable()  # as Enhancer.from_workdir does
  config = default.get_config()
  with config.unlocked():
    config.model.update(models.model_config(args.model).to_dict())
  model = checkpoints.build_model(config)
  text = checkpoints.build_text(config, model)
  m = model.config.multiple
  feats = text.encode(["a photo"]) if text is not None else None
  params = jax.jit(model.init)(jax.random.key(0), np.zeros((1, m, m, 3), np.float32),
                               feats)["params"]
  return Enhancer(model, text, params, text.params if text else None,
                  default_prompt=config.eval.default_prompt, tile=args.tile,
                  overlap=args.overlap)


def _one(args) -> dict:
  h, w = (int(v) for v in args.one.split("x"))
  enhancer = _enhancer(args)
  image = np.random.default_rng(args.seed).integers(0, 60, (h, w, 3), dtype=np.uint8)
  start = time.perf_counter()
  enhancer(image)
  first = time.perf_counter() - start
  compile_s = enhancer.compile_seconds
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    enhancer(image)
    times.append(time.perf_counter() - start)
  seconds = float(np.median(times)) if times else first
  tiled = h > args.tile or w > args.tile
  return {"height": h, "width": w, "megapixels": h * w / 1e6, "tiled": tiled,
          "tile_shape": list(enhancer.tile_shape(tiling.bucket(h, enhancer.granule),
                                                 tiling.bucket(w, enhancer.granule)))
          if tiled else None,
          "first_call_s": first, "compile_s": compile_s, "median_s": seconds,
          "ms_per_megapixel": 1e3 * seconds / (h * w / 1e6),
          "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
          "repeats": args.repeats, "seed": args.seed}


def _child(args, size: str, tile: int, *, repeats: int, seed: int = 0,
           cache: str = "") -> dict:
  """One size in a fresh process; `cache` is its NALSUPER_CACHE_DIR ("" = off)."""
  cmd = [sys.executable, "-m", "bench.inference", f"--one={size}", f"--model={args.model}",
         f"--tile={tile}", f"--overlap={args.overlap}", f"--repeats={repeats}", f"--seed={seed}"]
  if args.workdir:
    cmd.append(f"--workdir={args.workdir}")
  env = dict(os.environ, NALSUPER_CACHE_DIR=cache)
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  return common.run_child(cmd, size, env)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", default=None, help="trained workdir (default: fresh network)")
  p.add_argument("--model", default="small", help="network size when no --workdir")
  p.add_argument("--sizes", default="400x600,1080x1920,2160x3840", help="HEIGHTxWIDTH list")
  p.add_argument("--tile", type=int, default=None, help="largest tile side (default: "
                 "enhancer.default_tile for this backend, as nalsuper-enhance)")
  p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
  p.add_argument("--repeats", type=int, default=2)
  p.add_argument("--untiled", default="1080x1920,2160x3840",
                 help="sizes also run untiled (one whole image), for the tiling overhead")
  p.add_argument("--cache_size", default="1080x1920",
                 help="photo size of the two-process compilation cache check ('' to skip)")
  p.add_argument("--out", default="bench/results")
  p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process mode
  p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  args.tile = default_tile() if args.tile is None else args.tile
  if args.one:
    common.print_result(_one(args))
    return
  rows = []
  command = common.command("inference", argv)

  def record(ratios=None, cache=None):
    """Written after every row too, so a run stopped by a time limit keeps what it measured."""
    return common.record("inference", {
        "command": command, "model": args.workdir or args.model, "tile": args.tile,
        "overlap": args.overlap, "rows": rows, "tiled_over_untiled": ratios or {},
        "compile_cache": cache}, args.out)

  whole = set(filter(None, args.untiled.split(",")))
  # The cache check's folder, fresh (made only if there is a check).
  cache_folder = tempfile.TemporaryDirectory() if args.cache_size else None
  first = None  # the cache check's first process: a tiled row of --cache_size if there is one
  for size in args.sizes.split(","):
    for tile in [args.tile] + ([max(int(v) for v in size.split("x"))] if size in whole else []):
      # The cache folder is empty until this row, so its compile is a full one too.
      fills_cache = size == args.cache_size and tile == args.tile and first is None
      rows.append(_child(args, size, tile, repeats=args.repeats,
                         cache=cache_folder.name if fills_cache else ""))
      r = rows[-1]
      first = r if fills_cache else first
      print(f"{size} {'tiled' if r['tiled'] else 'whole'}: {r['ms_per_megapixel']:.0f} ms/MP, "
            f"{r['median_s']:.2f} s, compile {r['compile_s']:.1f} s, peak RSS "
            f"{r['peak_rss_mib']:.0f} MiB", flush=True)
      record()
  print("\n| HxW | MP | tiled | tile | ms/MP | s/image | compile s | peak RSS MiB |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    tile = "x".join(map(str, r["tile_shape"])) if r["tile_shape"] else "-"
    print(f"| {r['height']}x{r['width']} | {r['megapixels']:.2f} | {r['tiled']} | {tile} | "
          f"{r['ms_per_megapixel']:.0f} | {r['median_s']:.2f} | {r['compile_s']:.1f} | "
          f"{r['peak_rss_mib']:.0f} |")
  ratios = {}
  for size in whole:
    h, w = (int(v) for v in size.split("x"))
    pair = {r["tiled"]: r for r in rows if (r["height"], r["width"]) == (h, w)}
    if len(pair) == 2:
      ratios[size] = pair[True]["ms_per_megapixel"] / pair[False]["ms_per_megapixel"]
      print(f"{size}: tiled / untiled cost per megapixel = {ratios[size]:.2f}")
  cache = None
  if args.cache_size:
    with cache_folder as folder:
      if first is None:
        first = _child(args, args.cache_size, args.tile, repeats=0, seed=1, cache=folder)
      second = _child(args, args.cache_size, args.tile, repeats=0, seed=2, cache=folder)
    cache = {"size": args.cache_size, "first_process_compile_s": first["compile_s"],
             "second_process_compile_s": second["compile_s"],
             "second_process_first_call_s": second["first_call_s"]}
    print(f"compilation cache, {args.cache_size}: first process compiles {first['compile_s']:.1f}"
          f" s; a second process on a new photo {second['compile_s']:.2f} s")
  print(f"wrote {record(ratios, cache)}")


if __name__ == "__main__":
  main()
