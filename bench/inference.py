"""Inference speed and peak memory through the `nalsuper-enhance` code path.

  python -m bench.inference [--workdir=workdirs/demo/default] [--sizes 400x600,1080x1920,2160x3840]

Each size runs in its own process (peak resident memory is a per-process
high-water mark): build the `Enhancer` (from --workdir, or a freshly
initialised network of --model size, which costs the same), enhance one
image to compile, then time --repeats calls. Images with a side above
--tile are tiled, exactly as `nalsuper-enhance` does. Prints a table and
writes bench/results/inference-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from bench import common


def _enhancer(args):
  from nalsuper_jax.enhance import Enhancer  # pylint: disable=import-outside-toplevel
  if args.workdir:
    return Enhancer.from_workdir(args.workdir, tile=args.tile, overlap=args.overlap)
  import jax  # pylint: disable=import-outside-toplevel
  from configs import default  # pylint: disable=import-outside-toplevel
  from nalsuper_jax import checkpoints, models  # pylint: disable=import-outside-toplevel
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
  image = np.random.default_rng(0).integers(0, 60, (h, w, 3), dtype=np.uint8)
  start = time.perf_counter()
  enhancer(image)
  first = time.perf_counter() - start
  times = []
  for _ in range(args.repeats):
    start = time.perf_counter()
    enhancer(image)
    times.append(time.perf_counter() - start)
  seconds = float(np.median(times))
  tiled = h > args.tile or w > args.tile
  return {"height": h, "width": w, "megapixels": h * w / 1e6, "tiled": tiled,
          "first_call_s": first, "median_s": seconds, "ms_per_megapixel": 1e3 * seconds / (h * w / 1e6),
          "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
          "repeats": args.repeats}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", default=None, help="trained workdir (default: fresh network)")
  p.add_argument("--model", default="small", help="network size when no --workdir")
  p.add_argument("--sizes", default="400x600,1080x1920,2160x3840", help="HEIGHTxWIDTH list")
  p.add_argument("--tile", type=int, default=1024)
  p.add_argument("--overlap", type=int, default=64)
  p.add_argument("--repeats", type=int, default=2)
  p.add_argument("--out", default="bench/results")
  p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process mode
  args = p.parse_args(argv)
  if args.one:
    print("RESULT " + json.dumps(_one(args)))
    return
  rows = []
  for size in args.sizes.split(","):
    cmd = [sys.executable, "-m", "bench.inference", f"--one={size}", f"--model={args.model}",
           f"--tile={args.tile}", f"--overlap={args.overlap}", f"--repeats={args.repeats}"]
    if args.workdir:
      cmd.append(f"--workdir={args.workdir}")
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [l for l in run.stdout.splitlines() if l.startswith("RESULT ")]
    if run.returncode or not lines:
      raise SystemExit(f"{size}: failed\n{run.stderr[-3000:]}")
    rows.append(json.loads(lines[-1][len("RESULT "):]))
    r = rows[-1]
    print(f"{size}: {r['ms_per_megapixel']:.0f} ms/MP, {r['median_s']:.2f} s, "
          f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
  print("\n| HxW | MP | tiled | ms/MP | s/image | first call s | peak RSS MiB |")
  print("|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['height']}x{r['width']} | {r['megapixels']:.2f} | {r['tiled']} | "
          f"{r['ms_per_megapixel']:.0f} | {r['median_s']:.2f} | {r['first_call_s']:.1f} | "
          f"{r['peak_rss_mib']:.0f} |")
  command = "python -m bench.inference " + " ".join(sys.argv[1:])
  payload = {"command": command.strip(), "model": args.workdir or args.model,
             "tile": args.tile, "overlap": args.overlap, "rows": rows}
  print(f"wrote {common.record('inference', payload, args.out)}")


if __name__ == "__main__":
  main()
