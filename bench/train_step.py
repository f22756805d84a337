"""Training throughput: step time, images/s, compile time, and achieved FLOP/s
as a fraction of this machine's float32 matmul peak, measured in the same run.

  python -m bench.train_step [--model small] [--crops 128,256] [--batch 8] [--steps 5]

Uses the real jitted train step (`train.make_train_step`: forward, backward,
AdamW, text encoder) on random uint8 batches over a mesh of all local
devices. FLOPs per step come from XLA's cost analysis of the compiled step.
The matmul peak is the best of several 2048x2048 float32 products.
Writes bench/results/train_step-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from bench import common


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
  """Best float32 GFLOP/s of an n x n @ n x n product (2 n^3 FLOPs)."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = min(_timed(lambda: f(a).block_until_ready()) for _ in range(repeats))
  return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def measure(model_size: str, crop: int, batch: int, steps: int, dtype: str = "float32",
            conv_kernel_grad: str = "auto") -> dict:
  """One (size, crop) row: compile s, median step s, images/s, GFLOP per step."""
  from configs import default  # pylint: disable=import-outside-toplevel
  from nalsuper_jax import checkpoints, models, sharding, train  # pylint: disable=import-outside-toplevel
  config = default.get_config()
  with config.unlocked():
    config.model.update(models.model_config(model_size).to_dict())
    config.model.dtype = dtype
    config.model.conv_kernel_grad = conv_kernel_grad
    config.data.batch_size = batch
    config.data.crop = crop
  model = checkpoints.build_model(config)
  text = checkpoints.build_text(config, model)
  tx, schedule = train.make_optimizer(config.train)
  mesh = sharding.make_mesh(config.mesh)
  layout = checkpoints.train_state_layout(config, model, text, tx, mesh)
  state = layout.initialise()
  step = train.make_train_step(config, model, text, tx, schedule, mesh, layout.shardings)
  rng = np.random.default_rng(0)
  ids, mask = text.tokenizer(["a well-exposed photo, neutral white balance"] * batch)
  host = {"low": rng.integers(0, 60, (batch, crop, crop, 3), dtype=np.uint8),
          "high": rng.integers(0, 255, (batch, crop, crop, 3), dtype=np.uint8),
          "ids": ids, "mask": mask}
  data = sharding.global_batch(host, sharding.batch_sharding(mesh))
  start = time.perf_counter()
  compiled = step.lower(state, data, text.params).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", 0.0))
  state, metrics = compiled(state, data, text.params)  # warm-up
  jax.block_until_ready(metrics)
  times, losses = [], [float(metrics["loss/total"])]
  for _ in range(steps):
    start = time.perf_counter()
    state, metrics = compiled(state, data, text.params)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
    losses.append(float(metrics["loss/total"]))
  median = float(np.median(times))
  return {"model": model_size, "crop": crop, "batch": batch, "dtype": dtype,
          "conv_kernel_grad": conv_kernel_grad,
          "compile_s": compile_s, "step_s": median, "images_per_s": batch / median,
          "gflop_per_step": flops / 1e9, "gflops_achieved": flops / 1e9 / median,
          "steps_timed": steps, "devices": jax.device_count(), "losses": losses}


def main(argv=None) -> list[dict]:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--model", default="small")
  p.add_argument("--crops", default="128,256")
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--dtypes", default="float32", help="e.g. float32,bfloat16")
  p.add_argument("--conv_kernel_grads", default="auto",
                 help="config.model.conv_kernel_grad values to compare, e.g. batched,auto")
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  peak = matmul_peak_gflops()
  print(f"float32 matmul peak: {peak:.1f} GFLOP/s", flush=True)
  rows = []
  for dtype in args.dtypes.split(","):
    for crop, mode in ((int(c), m) for c in args.crops.split(",")
                       for m in args.conv_kernel_grads.split(",")):
      row = measure(args.model, crop, args.batch, args.steps, dtype, mode)
      row["fraction_of_matmul_peak"] = row["gflops_achieved"] / peak
      rows.append(row)
      print(f"{args.model} {dtype} {crop}x{crop} b{args.batch} kernel grad {mode}: "
            f"step {row['step_s']:.3f} s, "
            f"{row['images_per_s']:.1f} img/s, compile {row['compile_s']:.1f} s, "
            f"{row['gflops_achieved']:.1f} GFLOP/s ({100 * row['fraction_of_matmul_peak']:.0f}% "
            "of matmul peak)", flush=True)
  command = "python -m bench.train_step " + " ".join(sys.argv[1:] if argv is None else argv)
  path = common.record("train_step", {"command": command.strip(),
                                      "matmul_peak_gflops": peak, "rows": rows}, args.out)
  print(f"wrote {path}")
  return rows


if __name__ == "__main__":
  main()
