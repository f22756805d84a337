"""Does XLA's CPU convolution use every core? One 3x3 convolution, timed on all cores and on one.

  python -m bench.conv_threads [--shapes 8x128x128x32,8x64x64x64] [--ynn both]

Each (shape, YNNPACK on/off, cores) runs in its own process (the core mask
and XLA_FLAGS are per process): `--xla_cpu_experimental_ynn_fusion_type=`
(an empty list) routes the convolution to XLA's own Eigen kernel instead of
YNNPACK. A convolution that runs as fast on one core as on all of them
leaves the other cores idle during a train step (`bench.trace_summary`
shows how much of the step that is). Prints a table and writes
bench/results/conv_threads-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

from bench import common

YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="
REPEATS = 9


def _time_one(shape: str) -> dict:
  """In the child: median seconds of one SAME 3x3 convolution, C -> C features."""
  b, h, w, c = (int(v) for v in shape.split("x"))
  rng = np.random.default_rng(0)
  x = rng.random((b, h, w, c), np.float32)
  k = rng.random((3, 3, c, c), np.float32)
  conv = jax.jit(lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
  compiled = conv.lower(x, k).compile()
  x, k = jax.device_put(x), jax.device_put(k)
  compiled(x, k).block_until_ready()
  times = []
  for _ in range(REPEATS):
    start = time.perf_counter()
    compiled(x, k).block_until_ready()
    times.append(time.perf_counter() - start)
  seconds = float(np.median(times))
  return {"shape": shape, "ynn": "ynn" in compiled.as_text(), "seconds": seconds,
          "gflops": 2 * b * h * w * c * c * 9 / seconds / 1e9}


def _child(shape: str, ynn: bool, cores: list[int]) -> dict:
  env = dict(os.environ)
  if not ynn:
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {YNN_OFF}".strip()
  code = ("import os; from bench import common, conv_threads as c; "
          f"os.sched_setaffinity(0, {cores!r}); common.print_result(c._time_one({shape!r}))")
  return common.run_child([sys.executable, "-c", code], shape, env) | {"cores": len(cores)}


def main(argv=None) -> list[dict]:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--shapes", default="8x128x128x32,8x64x64x64,8x32x32x128",
                 help="BxHxWxC list (the small network's 3x3 convolutions at 128x128)")
  p.add_argument("--ynn", default="both", choices=["both", "on", "off"])
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  every = sorted(os.sched_getaffinity(0))
  rows = []
  modes = {"both": [True, False], "on": [True], "off": [False]}[args.ynn]
  print("| shape | kernel | cores | ms | GFLOP/s |\n|---|---|---|---|---|")
  for shape in args.shapes.split(","):
    for ynn in modes:
      for cores in (every, every[:1]):
        r = _child(shape, ynn, cores)
        rows.append(r)
        print(f"| {shape} | {'YNNPACK' if r['ynn'] else 'XLA/Eigen'} | {r['cores']} | "
              f"{1e3 * r['seconds']:.1f} | {r['gflops']:.1f} |", flush=True)
  command = common.command("conv_threads", argv)
  path = common.record("conv_threads", {"command": command, "rows": rows}, args.out)
  print(f"wrote {path}")
  return rows


if __name__ == "__main__":
  main()
