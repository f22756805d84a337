"""Quality on the `synthetic_lowlight` test split, and the text ablations.

  python -m bench.quality [--steps 600 --crop 96] [--root workdirs/bench_quality]

Trains three networks with the same budget (`configs/default.py` with
--steps/--crop): NaLSuper (TCM word cross-attention + sentence FiLM),
FiLM-only (sentence-level conditioning, the InstructIR style) and text-free
(no TCM, no FiLM). Evaluates on the test split: the input, the classical
baselines (fitted on the train split), NaLSuper with each image's caption,
with the default prompt and with captions shuffled across images (image i
gets caption i+1), FiLM-only with captions, text-free. PSNR/SSIM on 8-bit
outputs and their GT-mean variants. Reruns reuse finished trainings in
--root. Writes bench/results/quality-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys

import numpy as np

from bench import common

ROOT = pathlib.Path(__file__).resolve().parents[1]
VARIANTS = {
    "nalsuper": [],
    "film_only": ["--config.model.cross_attention=False"],
    "text_free": ["--config.model.film=False", "--config.model.cross_attention=False"],
}
METRICS = ("psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean")


def ensure_data(data_dir: str) -> None:
  if (pathlib.Path(data_dir) / "synthetic_lowlight/default/1.0.0/dataset_info.json").exists():
    return
  from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as synthetic  # pylint: disable=import-outside-toplevel
  synthetic.Builder(data_dir=data_dir).download_and_prepare()


def train(variant: str, workdir: pathlib.Path, data_dir: str, steps: int, crop: int) -> None:
  cmd = [sys.executable, "main.py", "--config=configs/default.py", f"--workdir={workdir}",
         f"--config.data.data_dir={data_dir}", "--mode=train", f"--config.train.steps={steps}",
         f"--config.data.crop={crop}", "--config.train.eval_every=0",
         f"--config.train.checkpoint_every={steps}", *VARIANTS[variant]]
  print(f"training {variant}: {' '.join(cmd[1:])}", flush=True)
  run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
  if run.returncode:
    raise SystemExit(f"{variant}: training failed\n{run.stdout[-2000:]}{run.stderr[-3000:]}")


def _mean(rows: list[dict]) -> dict:
  return {k: float(np.mean([r[k] for r in rows])) for k in METRICS}


def evaluate(root: pathlib.Path, data_dir: str) -> dict[str, dict]:
  from nalsuper_jax import baselines, metrics  # pylint: disable=import-outside-toplevel
  from nalsuper_jax.data import pipeline  # pylint: disable=import-outside-toplevel
  from nalsuper_jax import checkpoints  # pylint: disable=import-outside-toplevel
  from nalsuper_jax.enhance import Enhancer  # pylint: disable=import-outside-toplevel
  from nalsuper_jax.evaluate import fit_baselines  # pylint: disable=import-outside-toplevel
  config = checkpoints.read_config(root / "nalsuper")
  source = pipeline.load_source(config.data.name, config.data.eval_split, data_dir)
  examples = [source[i] for i in range(len(source))]
  lows = [np.asarray(e["low"], np.float32) / 255.0 for e in examples]
  highs = [np.asarray(e["high"]) for e in examples]
  caps = [pipeline.text(e["caption"]) for e in examples]
  with config.unlocked():
    config.data.data_dir = data_dir
  fitted = fit_baselines(config)
  score = lambda outs: _mean([metrics.image_metrics(o, h) for o, h in zip(outs, highs)])
  table = {"input": score(lows)}
  for name in ("gamma", "clahe", "oracle_exposure"):
    table[name] = score([baselines.outputs(l, h, fitted)[name] for l, h in zip(lows, highs)])
  full = Enhancer.from_workdir(root / "nalsuper")
  table["nalsuper_caption"] = score([full(l, c) for l, c in zip(lows, caps)])
  table["nalsuper_default_prompt"] = score([full(l) for l in lows])
  shuffled = caps[1:] + caps[:1]
  table["nalsuper_shuffled_captions"] = score([full(l, c) for l, c in zip(lows, shuffled)])
  film = Enhancer.from_workdir(root / "film_only")
  table["film_only_caption"] = score([film(l, c) for l, c in zip(lows, caps)])
  free = Enhancer.from_workdir(root / "text_free")
  table["text_free"] = score([free(l) for l in lows])
  table["_meta"] = {"num_images": len(examples), "baseline_params": fitted,
                    "step": full.step}
  return table


LABELS = {
    "input": "input (no enhancement)",
    "gamma": "gamma (fitted on train)",
    "clahe": "CLAHE (fitted on train)",
    "oracle_exposure": "oracle global exposure (uses the target; not a method)",
    "nalsuper_caption": "NaLSuper, each image's caption",
    "nalsuper_default_prompt": "NaLSuper, default prompt",
    "nalsuper_shuffled_captions": "NaLSuper, captions shuffled across images",
    "film_only_caption": "FiLM-only (sentence conditioning), caption",
    "text_free": "text-free (no TCM, no FiLM)",
}


def markdown(table: dict[str, dict]) -> str:
  lines = ["| method | PSNR | SSIM | PSNR (GT-mean) | SSIM (GT-mean) |", "|---|---|---|---|---|"]
  for key, label in LABELS.items():
    r = table[key]
    lines.append(f"| {label} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['psnr_gt_mean']:.2f} | "
                 f"{r['ssim_gt_mean']:.3f} |")
  return "\n".join(lines)


def verdict(table: dict[str, dict]) -> str:
  """One sentence on whether the words helped, from the numbers themselves."""
  cap = table["nalsuper_caption"]["psnr"]
  free, shuffled = table["text_free"]["psnr"], table["nalsuper_shuffled_captions"]["psnr"]
  film = table["film_only_caption"]["psnr"]
  helps = cap > free and cap > shuffled
  return (f"{'Text helps' if helps else 'Text does not help'} at this budget: captions vs "
          f"text-free {cap - free:+.2f} dB, vs shuffled captions {cap - shuffled:+.2f} dB; "
          f"word cross-attention vs FiLM-only {cap - film:+.2f} dB (PSNR).")


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--steps", type=int, default=600)
  p.add_argument("--crop", type=int, default=96)
  p.add_argument("--root", default="workdirs/bench_quality")
  p.add_argument("--data_dir", default="workdirs/demo/tfds")
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  root = pathlib.Path(args.root) / f"steps{args.steps}_crop{args.crop}"
  data_dir = os.path.abspath(args.data_dir)
  ensure_data(data_dir)
  for variant in VARIANTS:
    train(variant, root / variant, data_dir, args.steps, args.crop)
  table = evaluate(root, data_dir)
  print(markdown(table))
  command = "python -m bench.quality " + " ".join(sys.argv[1:] if argv is None else argv)
  path = common.record("quality", {"command": command.strip(), "steps": args.steps,
                                   "crop": args.crop, "table": table}, args.out)
  print(f"wrote {path}")
  return table


if __name__ == "__main__":
  main()
