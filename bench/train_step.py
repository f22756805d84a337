"""Training throughput: step time, images/s, compile time, and achieved FLOP/s
as a fraction of this machine's matmul peak, measured in the same run.

  python -m bench.train_step [--models small,base] [--crops 128,256] [--batches 8,32] [--steps 5]
                             [--profile_dir DIR]

Uses the real jitted train step (`train.make_train_step`: forward, backward,
AdamW) on random uint8 batches over a mesh of all local devices, with the
caption features handed in as the loop hands them (`config.text.cache_captions`:
the frozen text tower runs outside the step, once per distinct caption).
FLOPs per step come from XLA's cost analysis of the lowered step
(`models.cost.lowered_flops`: the same count on every backend; where the
accelerator's plugin has no such analysis, the same step is lowered for the
host CPU and counted there).
The matmul peak is the best of several n x n products in each dtype measured
(n = 2048 on CPU, 8192 on accelerators). On a GPU whose published dense peak
is known (`PUBLISHED_PEAK_TFLOPS`) each row also gets its model FLOP
utilisation (MFU) against that peak: bfloat16 rows against the bfloat16 tensor
core peak, float32 rows against the TF32 one (XLA's default precision lets
float32 matmuls and convolutions run on TF32 tensor cores).
Writes bench/results/train_step-<backend>-<date>.json after every row, so a
run stopped part way keeps the rows it finished.

`--profile_dir DIR` traces `PROFILE_STEPS` more steps of each row with
`jax.profiler` into DIR/<row>, with a Perfetto trace. A row that fails (out of
device memory, say) is recorded under "failed" with its error, and the next
row runs.

  python -m bench.train_step --recount=bench/results/train_step-gpu-<date>.json

recounts the FLOPs of a results file written before the count was taken from
the lowered program (the GPU's compiled count left out the convolutions): the
step times stay as measured; the FLOPs, and so GFLOP/s and MFU, are those of
the same program lowered here (FLOPs do not depend on the backend).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import pathlib
import resource
import shutil
import time
import traceback
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from bench import common
from configs import default
from nalsuper_jax import checkpoints, files, models, sharding, train
from nalsuper_jax.models import cost


# Dense (no sparsity) tensor-core peaks from NVIDIA's H100/H200 SXM data sheets,
# TFLOP/s; matched against `device_kind` by substring.
PUBLISHED_PEAK_TFLOPS = {
    "H100": {"bfloat16": 989.4, "float32": 494.7},
    "H200": {"bfloat16": 989.4, "float32": 494.7},
}


def published_peak_tflops(device_kind: str, dtype: str) -> float | None:
  """The data-sheet dense peak for this device and dtype, or None if unknown."""
  for name, peaks in PUBLISHED_PEAK_TFLOPS.items():
    if name in device_kind:
      return peaks.get(dtype)
  return None


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, dtype: str = "float32") -> float:
  """Best GFLOP/s of an n x n @ n x n product (2 n^3 FLOPs) in `dtype`."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.dtype(dtype))
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = min(_timed(lambda: f(a).block_until_ready()) for _ in range(repeats))
  return 2 * n ** 3 / best / 1e9


# Steps traced per row under --profile_dir: enough to see a steady step, few
# enough that the trace stays a few MB.
PROFILE_STEPS = 3
TRACE_SUFFIX = ".trace.json.gz"  # jax.profiler's trace-viewer events (bench.trace_summary)


def _timed(fn) -> float:
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def build_step(model_size: str, crop: int, batch: int, dtype: str = "float32",
               conv_kernel_grad: str = "auto", text_in_step: bool = False,
               devices: list[jax.Device] | None = None,
               base: ml_collections.ConfigDict | None = None) -> tuple[Any, tuple]:
  """The jitted train step of one configuration and its arguments (state,
  one random batch, text-tower params), ready to lower. `text_in_step`: the
  frozen tower runs inside the step on token ids (`config.text.cache_captions=0`,
  and every step before the cache existed). `devices`: the mesh's (default:
  all); the host CPU's to count an accelerator step's FLOPs (`host_flops`).
  `base`: the config the arguments amend (default `configs/default.py`); the
  step of a given config is the very program `train.run` compiles for it."""
  on_host = devices is not None and devices[0].platform == "cpu"
  with jax.default_device(devices[0]) if on_host else contextlib.nullcontext():
    config = default.get_config() if base is None else copy.deepcopy(base)
    with config.unlocked():
      config.model.update(models.model_config(model_size).to_dict())
      config.model.dtype = dtype
      config.model.conv_kernel_grad = conv_kernel_grad
      config.data.batch_size = batch
      config.data.crop = crop
      if text_in_step:
        config.text.cache_captions = 0
    model = checkpoints.build_model(config)
    text = checkpoints.build_text(config, model)
    tx, schedule = train.make_optimizer(config.train)
    mesh = sharding.make_mesh(config.mesh, devices)
    layout = checkpoints.train_state_layout(config, model, text, tx, mesh)
    state = layout.initialise()
    step = train.make_train_step(config, model, text, tx, schedule, mesh, layout.shardings)
    rng = np.random.default_rng(0)
    ids, mask = text.tokenizer(["a well-exposed photo, neutral white balance"] * batch)
    host = {"low": rng.integers(0, 60, (batch, crop, crop, 3), dtype=np.uint8),
            "high": rng.integers(0, 255, (batch, crop, crop, 3), dtype=np.uint8),
            "ids": ids, "mask": mask}
    cache = train.make_feature_cache(config, text)  # as the loop does: features, not ids
    if cache is not None:
      host = cache.replace_tokens(host)
    data = sharding.global_batch(host, sharding.batch_sharding(mesh))
    return step, (state, data, text.params)


def compile_step(model_size: str, crop: int, batch: int, dtype: str = "float32",
                 conv_kernel_grad: str = "auto", text_in_step: bool = False,
                 base: ml_collections.ConfigDict | None = None
                 ) -> tuple[Any, tuple, float, float]:
  """One configuration's compiled train step, its arguments, compile seconds and
  FLOPs per step (timed apart from `time_steps`, so a caller can time the same
  program more than once without compiling it again); `base` as in `build_step`."""
  step, args = build_step(model_size, crop, batch, dtype, conv_kernel_grad, text_in_step,
                          base=base)
  start = time.perf_counter()
  lowered = step.lower(*args)
  compiled = lowered.compile()
  seconds = time.perf_counter() - start
  flops = cost.lowered_flops(lowered)
  if flops is None:  # an accelerator plugin: count the same step on the host
    flops = host_flops(model_size, crop, batch, dtype, conv_kernel_grad, text_in_step)
  return compiled, args, seconds, flops


def host_flops(model_size: str, crop: int, batch: int, dtype: str = "float32",
               conv_kernel_grad: str = "auto", text_in_step: bool = False) -> float:
  """FLOPs of one configuration's train step lowered for the host CPU (one
  device; FLOPs depend on neither). An accelerator's "auto" kernel gradient
  is the batched form (the per-piece form is for one-device CPUs), so that is
  the form counted."""
  mode = "batched" if conv_kernel_grad == "auto" else conv_kernel_grad
  step, args = build_step(model_size, crop, batch, dtype, mode, text_in_step,
                          devices=jax.devices("cpu")[:1])
  return cost.host_lowered_flops(step.lower(*args))


def time_steps(compiled, args: tuple, steps: int) -> tuple[float, list[float], tuple]:
  """Median seconds of `steps` steps after one warm-up, the losses seen, and the
  arguments to continue from (the state advances)."""
  state, data, text_params = args
  state, metrics = compiled(state, data, text_params)  # warm-up
  jax.block_until_ready(metrics)
  times, losses = [], [float(metrics["loss/total"])]
  for _ in range(steps):
    start = time.perf_counter()
    state, metrics = compiled(state, data, text_params)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
    losses.append(float(metrics["loss/total"]))
  return float(np.median(times)), losses, (state, data, text_params)


def measure(model_size: str, crop: int, batch: int, steps: int, dtype: str = "float32",
            conv_kernel_grad: str = "auto", text_in_step: bool = False,
            profile_dir: str | None = None) -> dict:
  """One (size, crop) row: compile s, median step s, images/s, GFLOP per step."""
  compiled, args, compile_s, flops = compile_step(
      model_size, crop, batch, dtype, conv_kernel_grad, text_in_step)
  faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  median, losses, args = time_steps(compiled, args, steps)
  # Pages the kernel mapped in per step (the warm-up's included): glibc's malloc
  # returns large buffers to the kernel on free, tcmalloc keeps them (allocator.py).
  faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (steps + 1)
  if profile_dir:
    name = (f"{model_size}-{dtype}-{crop}-b{batch}-{conv_kernel_grad}"
            + ("-text" if text_in_step else ""))
    folder = pathlib.Path(profile_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    # The program's text names each traced thunk's model code (bench.trace_summary).
    files.write_atomic(folder / "step.hlo.txt", compiled.as_text())
    with jax.profiler.trace(str(folder), create_perfetto_trace=True):
      time_steps(compiled, args, PROFILE_STEPS)
    # A copy beside the program text: the profiler's own folders are nested five
    # deep, deeper than the lent accelerator's result transfer keeps.
    # The newest: a rerun into the same --profile_dir adds a run folder.
    trace = max(folder.glob(f"plugins/profile/*/*{TRACE_SUFFIX}"), key=lambda f: f.stat().st_mtime)
    shutil.copyfile(trace, folder / f"step{TRACE_SUFFIX}")
  return {"model": model_size, "crop": crop, "batch": batch, "dtype": dtype,
          "conv_kernel_grad": conv_kernel_grad, "text_in_step": text_in_step,
          "compile_s": compile_s, "step_s": median, "images_per_s": batch / median,
          "gflop_per_step": flops / 1e9, "gflops_achieved": flops / 1e9 / median,
          "steps_timed": steps, "devices": jax.device_count(), "losses": losses,
          "minor_page_faults_per_step": faults}


def _utilisation(row: dict, matmul_peak_gflops: float, published_tflops: float | None) -> None:
  """Adds the row's share of the measured matmul peak and, where the device's
  data-sheet peak is known, its MFU."""
  row["fraction_of_matmul_peak"] = row["gflops_achieved"] / matmul_peak_gflops
  if published_tflops:
    row["published_peak_tflops"] = published_tflops
    row["mfu"] = row["gflops_achieved"] / (1e3 * published_tflops)


def recount(path: str) -> list[dict]:
  """Rewrites a results file's FLOPs with the lowered-program count (see the
  module docstring); the accelerator's own conv-kernel-gradient form
  ("batched") is the program lowered, whatever the row says, with the text
  tower inside the step where the row does not say otherwise (rows written
  before the feature cache)."""
  result = json.loads(pathlib.Path(path).read_text())
  for row in result["rows"]:
    flops = host_flops(row["model"], row["crop"], row["batch"], row["dtype"], "batched",
                       row.get("text_in_step", True))
    row["gflop_per_step"] = flops / 1e9
    row["gflops_achieved"] = flops / 1e9 / row["step_s"]
    peaks = row.get("matmul_peaks_gflops", result["matmul_peaks_gflops"])  # its own run's
    _utilisation(row, peaks[row["dtype"]], row.get("published_peak_tflops"))
    print(f"{row['model']} {row['dtype']} {row['crop']} b{row['batch']}: "
          f"{row['gflop_per_step']:.1f} GFLOP/step, {row['gflops_achieved']:.0f} GFLOP/s"
          + (f", MFU {100 * row['mfu']:.1f}%" if "mfu" in row else ""), flush=True)
  result["flops_recounted"] = (f"python -m bench.train_step --recount={path} "
                               f"(lowered program, {common.machine()['machine']})")
  files.write_atomic(path, json.dumps(result, indent=2))
  return result["rows"]


def _record(command: str, peaks: dict, rows: list, failed: list, out: str) -> pathlib.Path:
  """Writes the results so far (a stopped run keeps them)."""
  return common.record("train_step", {
      "command": command, "matmul_peak_gflops": next(iter(peaks.values())),
      "matmul_peaks_gflops": peaks, "rows": rows, "failed": failed}, out)


def _failure(config: tuple, error: Exception) -> dict:
  """A row that could not be compiled or run, with the first line of why."""
  model, dtype, crop, batch, mode, text = config
  why = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
  print(f"{model} {dtype} {crop}x{crop} b{batch} kernel grad {mode}, text {text}: "
        f"FAILED ({why})", flush=True)
  return {"model": model, "dtype": dtype, "crop": crop, "batch": batch,
          "conv_kernel_grad": mode, "text_in_step": text == "in_step", "error": why}


def main(argv=None) -> list[dict]:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default="small", help="comma list of model sizes")
  p.add_argument("--crops", default="128,256")
  p.add_argument("--batches", default="8", help="comma list of batch sizes")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--dtypes", default="float32", help="e.g. float32,bfloat16")
  p.add_argument("--conv_kernel_grads", default="auto",
                 help="config.model.conv_kernel_grad values to compare, e.g. batched,auto")
  p.add_argument("--text", default="cached",
                 help="where the frozen text tower runs, to compare: cached (outside the "
                      "step, once per caption, as training does), in_step")
  p.add_argument("--profile_dir", default=None, help="trace each row's steps here")
  p.add_argument("--out", default="bench/results")
  p.add_argument("--recount", default=None, help="results file whose FLOPs to recount")
  args = p.parse_args(argv)
  if args.recount:
    return recount(args.recount)
  dtypes = args.dtypes.split(",")
  accelerator = jax.default_backend() != "cpu"
  peaks = {d: matmul_peak_gflops(8192 if accelerator else 2048, dtype=d) for d in dtypes}
  for d, v in peaks.items():
    print(f"{d} matmul peak: {v:.1f} GFLOP/s", flush=True)
  kind = jax.devices()[0].device_kind
  command = common.command("train_step", argv)
  rows = []
  texts = args.text.split(",")
  if set(texts) - {"cached", "in_step"}:
    raise SystemExit(f"--text={args.text}: expected a comma list of cached, in_step")
  failed, path = [], None
  for config in itertools.product(
      args.models.split(","), dtypes, [int(c) for c in args.crops.split(",")],
      [int(b) for b in args.batches.split(",")], args.conv_kernel_grads.split(","), texts):
    model, dtype, crop, batch, mode, text = config
    try:
      row = measure(model, crop, batch, args.steps, dtype, mode, text == "in_step",
                    args.profile_dir)
    except Exception as e:  # a row that does not fit is reported, not fatal
      traceback.print_exc()
      failed.append(_failure(config, e))
    else:
      published = published_peak_tflops(kind, dtype) if accelerator else None
      _utilisation(row, peaks[dtype], published)
      rows.append(row)
      print(f"{model} {dtype} {crop}x{crop} b{batch} kernel grad {mode}, text {text}: "
            f"step {row['step_s']:.4f} s, "
            f"{row['images_per_s']:.1f} img/s, compile {row['compile_s']:.1f} s, "
            f"{row['gflops_achieved']:.1f} GFLOP/s ({100 * row['fraction_of_matmul_peak']:.0f}% "
            "of matmul peak" + (f", MFU {100 * row['mfu']:.1f}%" if published else "")
            + f"), {row['minor_page_faults_per_step'] / 1e3:.0f} k page faults per step",
            flush=True)
    path = _record(command, peaks, rows, failed, args.out)  # after every row
  print(f"wrote {path}")
  return rows

if __name__ == "__main__":
  main()
