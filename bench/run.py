"""Every benchmark, one table, one results file, BENCHMARKS.md regenerated.

  python -m bench.run            # the full budget (quality: 4 networks x 3 seeds, the demo's recipe)
  python -m bench.run --quick    # under 15 minutes on a 2-core CPU (see `plan`)
  python -m bench.run --from_results bench/results/<file>.json   # only rewrite the page

Each benchmark runs as its own process (peak memory and forced device counts
are per process) and records its JSON; this script gathers them into
bench/results/<machine>-<date>.json and rewrites the tables between the
markers in BENCHMARKS.md. On a GPU the training table is measured in
float32 and bfloat16.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata as md
import json
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

import jax

from bench import common, quality
from nalsuper_jax import files

ROOT = pathlib.Path(__file__).resolve().parents[1]


# The full run's budget for each of the 12 quality trainings: 4 networks x 3 seeds
# at 1200 steps took 98.6 min (2026-11-29), inside the 2 hours the run may take;
# the demo's 2400 (configs/default.py) would double it.
COMPARISON_STEPS = 1200


def plan(quick: bool, gpu: bool) -> dict[str, list[str]]:
  """Benchmark name -> module arguments (all write to --out).

  On a GPU the training table covers both sizes and dtypes at 256x256 with
  batches 8 and 32 (the kernel-gradient split is a CPU-only choice, so one
  mode); the data-loading, forced-host-device and training-quality rows are
  CPU questions and are left to `--only` there.
  """
  q = quick
  if gpu:
    train = ["bench.train_step", f"--steps={10 if q else 20}", "--models=small,base",
             "--crops=256", "--batches=8,32", "--dtypes=float32,bfloat16"]
  else:
    train = ["bench.train_step", f"--steps={3 if q else 8}", "--dtypes=float32",
             f"--conv_kernel_grads={'auto' if q else 'batched,auto'}"] + (
                 ["--crops=128"] if q else [])
  # --quick: one crop and kernel-gradient form, no 4K photo, fewer loop steps and
  # device counts, two of the four quality networks (the full one and text-free)
  # for 40 steps (the warm-up is 30), trained side by side (mostly imports and
  # compiles, one core each): the 2026-11-24 budgets had grown to 22.6 min by
  # 2026-11-27, and to 20.3 min under jax 0.11.2 (BENCHMARKS.md).
  return {
      "model_cost": ["bench.model_cost"],
      "train_step": train,
      "inference": ["bench.inference", f"--repeats={1 if q else 3}"]
                   + (["--sizes=400x600,1080x1920", "--untiled=1080x1920"] if q else []),
      "loop_overhead": ["bench.loop_overhead"] + (["--steps=10", "--warmup=5"] if q
                                                  else ["--steps=40"]),
      "input_pipeline": ["bench.input_pipeline", f"--batches={30 if q else 60}"],
      "scaling": ["bench.scaling"] + (["--steps=2", "--crop=32", "--devices=1,2"] if q
                                      else ["--steps=4", "--crop=64"]),
      # The full run trains the 4 networks x 3 seeds from scratch at
      # COMPARISON_STEPS; --quick trains one seed (no spread), a check that the
      # table builds. `make demo`'s own rows: README "Demo results".
      "quality": ["bench.quality"] + (["--steps=40", "--crop=64", "--seeds=0", "--jobs=2",
                                       "--variants=nalsuper,text_free"]
                                      if q else ["--seeds=0,1,2",
                                                 f"--steps={COMPARISON_STEPS}"]),
  }


def _run(name: str, args: list[str], out: str) -> dict:
  """Runs one benchmark module, echoing its output as it comes (so a long run
  shows progress), and reads back the JSON it wrote into `out`."""
  start = time.perf_counter()
  print(f"== {name}: python -m {' '.join(args)}", flush=True)
  # `name`-<date>.json, or `name`_<subset>-<date>.json (bench.quality --variants)
  patterns = (f"{name}-*.json", f"{name}_*-*.json")
  found = lambda: [f for p in patterns for f in pathlib.Path(out).glob(p)]
  before = {f: f.stat().st_mtime for f in found()}
  # stderr goes to a file: a pipe read only at the end would fill (progress bars,
  # XLA logs) and stall the child.
  with tempfile.TemporaryFile("w+") as log, subprocess.Popen(
      [sys.executable, "-m", *args, f"--out={out}"], cwd=ROOT, text=True,
      stdout=subprocess.PIPE, stderr=log) as run:
    for line in run.stdout:
      if not line.startswith(common.RESULT):
        print(line, end="", flush=True)
    run.wait()
    log.seek(0)
    stderr = log.read()
  if run.returncode:
    raise SystemExit(f"{name} failed:\n{stderr[-4000:]}")
  written = [f for f in found() if before.get(f) != f.stat().st_mtime]
  if not written:
    raise SystemExit(f"{name} wrote no {' or '.join(patterns)} into {out}")
  result = json.loads(max(written, key=lambda f: f.stat().st_mtime).read_text())
  result["wall_s"] = time.perf_counter() - start
  return result


def _text_control(quality_result: dict, out: str) -> dict:
  root = pathlib.Path(quality_result["root"])  # where bench.quality trained
  first = quality.seed_root(root, quality_result.get("seeds", [0])[0]) / "nalsuper"
  return _run("text_control", ["bench.text_control", f"--workdir={first}"], out)


# ----------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------
def tables(r: dict) -> dict[str, str]:
  """BENCHMARKS.md blocks from the results present in `r` (a partial run gives
  the blocks it has the numbers for)."""
  t = {}
  if "model_cost" in r:
    t["cost"] = cost_table(r["model_cost"])
  if "train_step" in r:
    t["train"] = train_block(r["train_step"], r.get("loop_overhead"))
  if "inference" in r:
    t["inference"] = inference_table(r["inference"])
  if "input_pipeline" in r and "train_step" in r:
    t["input"] = input_table(r["input_pipeline"], r["train_step"])
  if "scaling" in r:
    t["scaling"] = scaling_table(r["scaling"])
  if "quality" in r:
    t["quality"] = quality_table(r["quality"])
  if "text_control" in r:
    t["control"] = control_table(r["text_control"])
  return t


def cost_table(mc: dict) -> str:
  rows = ["| size | HxW | params (image net) | GFLOPs (XLA) | GMACs |", "|---|---|---|---|---|"]
  for x in mc["rows"]:
    rows.append(f"| {x['size']} | {x['height']}x{x['width']} | {x['params']:,} | "
                f"{x['gflops']:.2f} | {x['gmacs']:.2f} |")
  e = mc["text_encoder"]
  rows.append(f"\nText encoder (`{e['checkpoint']}`, frozen; in training, forward once per "
              "distinct caption outside the train step, `config.text.cache_captions`): "
              f"{e['params']:,} params, {e['gflops']:.3f} GFLOPs per {e['tokens']}-token caption.")
  return "\n".join(rows)


def train_block(ts: dict, lo: dict | None) -> str:
  rows = [train_table(ts)]
  if lo:
    rows.append(f"\nThe training loop (`train.run`: grain input, metrics fetched every log step, "
                f"Orbax manager) against the bare compiled step at the demo shape "
                f"({lo['batch']}x{lo['crop']}x{lo['crop']}): {lo['loop_step_s']:.3f} vs "
                f"{lo['bare_step_s']:.3f} s per step, overhead {100 * lo['overhead']:+.1f}%.")
  return "\n".join(rows)


def input_table(ip: dict, ts: dict) -> str:
  """The loader against the fastest train step at the largest crop measured
  (256x256 in the full run; --quick times 128x128 only)."""
  feed = ip["examples_per_second"]
  crop = max(x["crop"] for x in ts["rows"])
  need = max(x["images_per_s"] for x in ts["rows"] if x["crop"] == crop)
  return ("| grain loader, 256x256 crops from 600x400 pairs | train step consumes "
          f"({crop}x{crop}, batch 8) | headroom |\n|---|---|---|\n"
          f"| {feed:.1f} examples/s | {need:.2f} examples/s | {feed / need:.1f}x |")


def scaling_table(sc: dict) -> str:
  rows = ["| devices | step s | losses | max abs loss diff vs 1 device |", "|---|---|---|---|"]
  for x in sc["rows"]:
    rows.append(f"| {x['devices']} | {x['step_s']:.3f} | "
                f"{', '.join(f'{v:.6f}' for v in x['losses'])} | "
                f"{x['max_loss_diff_vs_first']:.1e} |")
  return "\n".join(rows)


def quality_table(q: dict) -> str:
  seeds = ", ".join(map(str, q.get("seeds", [0])))
  return (f"{q['table']['_meta']['num_images']} test images; every learned row trained "
          f"{q['steps']} steps at {q['crop']}x{q['crop']} crops, batch 8, once per seed "
          f"({seeds}); mean ± sample standard deviation over seeds.\n\n"
          + quality.markdown(q["table"]) + "\n\n"
          + "\n\n".join(quality.sentences(q["table"], q.get("per_seed", [{}]),
                                           q.get("seeds", [0]))))


def control_table(c: dict) -> str:
  rows = ["| prompt | mean output luminance |", "|---|---|"]
  rows += [f"| {p} | {v:.3f} |" for p, v in c["mean_luma"].items()]
  rows.append(f"\nMonotonic (dark < dim < well-exposed < bright) on "
              f"{c['monotonic_images']}/{c['num_images']} test images:\n")
  rows += ["| image | " + " | ".join(c["prompts"]) + " | monotonic |",
           "|---|" + "---|" * (len(c["prompts"]) + 1)]
  for name, lumas in zip(c.get("names", []), c["per_image"]):
    rising = all(b > a for a, b in zip(lumas, lumas[1:]))
    rows.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in lumas)
                + f" | {'yes' if rising else 'no'} |")
  return "\n".join(rows)


def train_table(ts: dict) -> str:
  """The train-step rows, with MFU where the device's published peak is known."""
  peaks = ts.get("matmul_peaks_gflops") or {"float32": ts["matmul_peak_gflops"]}
  mfu = any("mfu" in x for x in ts["rows"])
  rows = ["Matmul peak measured in the same run: "
          + ", ".join(f"{d} {v:.1f} GFLOP/s" for d, v in peaks.items()) + "."
          + (" MFU: achieved FLOP/s over the data sheet's dense tensor-core peak (bfloat16 "
             "rows against bfloat16, float32 rows against TF32)." if mfu else ""),
          "", "| model | dtype | crop | batch | kernel grad | text tower | step (median) s | "
          "images/s | compile s | GFLOP/step | GFLOP/s | of matmul peak |"
          + (" MFU |" if mfu else ""),
          "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|" if mfu else "")]
  for x in ts["rows"]:
    rows.append(f"| {x['model']} | {x['dtype']} | {x['crop']}x{x['crop']} | {x['batch']} | "
                f"{x.get('conv_kernel_grad', 'batched')} | "
                f"{'in step' if x.get('text_in_step', True) else 'cached'} | "
                f"{x['step_s']:.4f} | {x['images_per_s']:.2f} | {x['compile_s']:.1f} | "
                f"{x['gflop_per_step']:.1f} | {x['gflops_achieved']:.1f} | "
                f"{100 * x['fraction_of_matmul_peak']:.0f}% |"
                + (f" {100 * x['mfu']:.1f}% |" if mfu else ""))
  for x in ts.get("failed", []):
    rows.append(f"\nNot measured: {x['model']} {x['dtype']} {x['crop']}x{x['crop']} batch "
                f"{x['batch']} ({x['error']}).")
  return "\n".join(rows)


def gpu_section(paths: list[pathlib.Path]) -> str:
  """The GPU block: train_step and inference results files measured on lent
  accelerators (leases are short, so each file holds what one lease measured)."""
  parts = []
  for path in paths:
    ts = json.loads(path.read_text())
    head = (f"`{ts['command']}` on {ts['date']}: {', '.join(sorted(set(ts['devices'])))}, "
            f"{ts['machine']}, JAX {ts['jax']}, Python {ts['python']}. Raw numbers: `{path}`"
            + (f"; FLOPs recounted by `{ts['flops_recounted']}`" if "flops_recounted" in ts
               else "") + ".")
    table = inference_table(ts) if path.name.startswith("inference") else train_table(ts)
    parts.append(head + ("\n\n" + ts["note"] if "note" in ts else "") + "\n\n" + table)
  return "\n\n".join(parts)


def inference_table(inf: dict) -> str:
  """Rows per size (tiled as nalsuper-enhance does, and whole where measured),
  the tiled/untiled cost ratio and the two-process compilation cache check."""
  rows = [f"`{inf['model']}` network, largest tile {inf['tile']} (overlap {inf['overlap']}) as "
          "in `nalsuper-enhance`; compile times with the persistent cache off.", "",
          "| HxW | megapixels | tiled | tile | ms per MP | s per image | compile s | "
          "peak RSS MiB |", "|---|---|---|---|---|---|---|---|"]
  for x in inf["rows"]:
    tile = "x".join(map(str, x["tile_shape"])) if x.get("tile_shape") else "-"
    rows.append(f"| {x['height']}x{x['width']} | {x['megapixels']:.2f} | "
                f"{'yes' if x['tiled'] else 'no'} | {tile} | {x['ms_per_megapixel']:.0f} | "
                f"{x['median_s']:.2f} | {x.get('compile_s', x['first_call_s']):.1f} | "
                f"{x['peak_rss_mib']:.0f} |")
  for size, ratio in sorted(inf.get("tiled_over_untiled", {}).items()):
    rows.append(f"\n{size}: tiled / whole-image cost per megapixel = {ratio:.2f}.")
  if inf.get("compile_cache"):
    c = inf["compile_cache"]
    rows.append(f"\nPersistent compilation cache, {c['size']}: the first process compiles "
                f"{c['first_process_compile_s']:.1f} s; a second process on a new photo of "
                f"that size {c['second_process_compile_s']:.2f} s.")
  return "\n".join(rows)


def write_benchmarks(path: pathlib.Path, t: dict[str, str], header: str | None = None) -> None:
  """Replaces each `<!-- bench:NAME -->...<!-- /bench:NAME -->` block (atomically);
  the header block too unless `header` is None."""
  text = path.read_text()
  if header is not None:
    text = re.sub(r"<!-- bench:header -->.*?<!-- /bench:header -->",
                  lambda _: f"<!-- bench:header -->\n{header}\n<!-- /bench:header -->", text,
                  flags=re.S)
  for name, body in t.items():
    pattern = rf"<!-- bench:{name} -->.*?<!-- /bench:{name} -->"
    if not re.search(pattern, text, flags=re.S):
      raise SystemExit(f"{path}: no <!-- bench:{name} --> block to fill")
    text = re.sub(pattern, lambda _: f"<!-- bench:{name} -->\n{body}\n<!-- /bench:{name} -->",
                  text, flags=re.S)
  files.write_atomic(path, text)


def _versions() -> str:
  return ", ".join(f"{pkg} {md.version(pkg)}" for pkg in
                   ("jax", "flax", "optax", "grain", "orbax-checkpoint"))


def _header(info: dict, command: str, total: float, path: pathlib.Path) -> str:
  return (f"Generated by `{command}` on {info['date']}: {info['machine']}, backend "
          f"{info['backend']} ({', '.join(sorted(set(info['devices'])))}), Python "
          f"{info['python']}, {info.get('versions') or _versions()}, malloc "
          f"{info.get('malloc', 'system')}. Total {total / 60:.1f} "
          f"min. Raw numbers: `{path}`.")


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--quick", action="store_true", help="small budgets: under 15 min on 2 CPU cores")
  p.add_argument("--only", default=None,
                 help="comma list of benchmarks; rewrites only their BENCHMARKS.md blocks, "
                      "each under a line naming this run")
  p.add_argument("--results", default="bench/results",
                 help="results folder; one outside the repository leaves BENCHMARKS.md as it is")
  p.add_argument("--gpu_results", default=None,
                 help="only rewrite BENCHMARKS.md's GPU block from a comma list of train_step "
                      "and inference results files")
  p.add_argument("--from_results", default=None,
                 help="only rewrite BENCHMARKS.md from a results file this script wrote")
  args = p.parse_args(argv)
  if args.gpu_results:
    write_benchmarks(ROOT / "BENCHMARKS.md", {"gpu": gpu_section(
        [pathlib.Path(f) for f in args.gpu_results.split(",")])})
    print("rewrote BENCHMARKS.md's GPU block")
    return
  if args.from_results:
    saved = json.loads((ROOT / args.from_results).read_text())
    write_benchmarks(ROOT / "BENCHMARKS.md", tables(saved["results"]), _header(
        saved, saved["command"], saved["total_s"], pathlib.Path(args.from_results)))
    print("rewrote BENCHMARKS.md")
    return
  gpu = jax.default_backend() == "gpu"
  start = time.perf_counter()
  results = {}
  out = str(ROOT / args.results)  # each benchmark's own JSON lands beside the summary
  pathlib.Path(out).mkdir(parents=True, exist_ok=True)
  for name, module_args in plan(args.quick, gpu).items():
    if args.only and name not in args.only.split(","):
      continue
    results[name] = _run(name, module_args, out)
  if "quality" in results:
    results["text_control"] = _text_control(results["quality"], out)
  info = common.machine()
  command = ("python -m bench.run" + (" --quick" if args.quick else "")
             + (f" --only={args.only}" if args.only else ""))
  total = time.perf_counter() - start
  summary = info | {"command": command, "quick": args.quick, "total_s": total,
                    "versions": _versions(), "results": results}
  machine = f"{info['backend']}-{platform.machine()}-{len(info['devices'])}dev"
  folder = ROOT / args.results
  folder.mkdir(parents=True, exist_ok=True)
  path = folder / (f"{machine}-{datetime.date.today().isoformat()}{'-quick' if args.quick else ''}"
                   + (f"-only-{'+'.join(results)}" if args.only else "") + ".json")
  files.write_atomic(path, json.dumps(summary, indent=2))
  print(f"wrote {path} ({total / 60:.1f} min)")
  if not path.resolve().is_relative_to(ROOT):
    print(f"BENCHMARKS.md left as it is: its raw-number links must point into the "
          f"repository, and --results={args.results} is outside it (a timing run)")
    return
  generated = tables(results)
  if args.only:  # the header still describes the last full run: each block says its own
    line = _header(summary, command, total, path.relative_to(ROOT)).replace(
        "Generated by", "Regenerated by", 1)
    write_benchmarks(ROOT / "BENCHMARKS.md", {k: f"{line}\n\n{v}" for k, v in generated.items()})
    print(f"rewrote BENCHMARKS.md blocks: {', '.join(generated)}")
    return
  print("\n\n".join(generated.values()))
  write_benchmarks(ROOT / "BENCHMARKS.md", generated,
                   _header(summary, command, total, path.relative_to(ROOT)))
  print("rewrote BENCHMARKS.md")


if __name__ == "__main__":
  main()
