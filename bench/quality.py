"""Quality on the `synthetic_lowlight` test split, and the text ablations.

  python -m bench.quality [--steps N --crop C] [--seeds 0,1,2] [--variants nalsuper,...]
      [--set data.caption_default=0.1 ...] [--root workdirs/bench_quality] [--jobs 1]

Trains four networks with the same budget (`configs/default.py` with
--steps/--crop; by default its own, so the NaLSuper row is `make demo`'s
training), once per seed: NaLSuper (TCM word cross-attention +
sentence FiLM), NaLSuper with text-conditioned IFA (`model.ifa_text`),
FiLM-only (sentence-level conditioning, the InstructIR style) and text-free
(no TCM, no FiLM). Evaluates each seed on the test split: the input, the
classical baselines (fitted on the train split), NaLSuper with each image's
caption, the same outputs with each caption's exposure words kept
(`captions.keep_exposure_words`), NaLSuper with the default prompt and with
captions shuffled across images (image i gets caption i+1), the IFA-text
and FiLM-only networks with captions, text-free. PSNR/SSIM on 8-bit
outputs and their GT-mean variants; each row is the mean over seeds with
its sample standard deviation, and the verdict counts a difference only
where it exceeds the two rows' spread.
Per seed it also checks the demo's bar (`demo_check`): NaLSuper with captions
(the network's own, and with the exposure words kept) and with the default
prompt each at least `common.MIN_MARGIN_DB` above the best non-oracle
baseline, and the network's text control (`bench.text_control`) monotonic
on every test image.
`--variants` trains and scores some of the networks only (`nalsuper`: the
demo's bar on every seed, without the ablations). `--set` overrides a config
field in every training (a candidate recipe; its trainings get their own
folder). Reruns reuse finished trainings in --root; the folder's name carries a
digest of `configs/default.py`'s resolved config, so a changed recipe trains
afresh instead of reusing the old one's. `--split=validation` scores
`VALIDATION_IMAGES` training crops darkened afresh (`common.redarkened`)
instead of the test split: the trainings saw those crops, not these noise
draws, so it ranks recipes without looking at the test split (but rewards
fitting the training photos). `--split=heldout` trains without two of the
demo's photos (`HELD_OUT`, via `config.data.train_exclude`, in trainings of
their own) and scores every crop of them darkened afresh: photos training
never saw, like the test split's. `--split=unseen` scores the demo's own
trainings (the test split's, reused) on `UNSEEN_*` photos that neither they nor
`demo_start` saw, cropped, darkened and captioned as the test split is
(`make photos` fetches them): more photos than the held-out two, to choose a
recipe for `make demo` on.
Writes bench/results/quality[_<variants>][-validation|-heldout|-unseen]-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from typing import IO, Sequence

import numpy as np

from bench import common, exposure_spread
from bench.text_control import control_table
from configs import default as default_config
from nalsuper_jax import baselines, checkpoints, metrics
from nalsuper_jax.data import captions, degrade, pipeline
from nalsuper_jax.enhance import Enhancer
from nalsuper_jax.evaluate import fit_baselines
from tfds_builders.real_photos import real_photos_dataset_builder as real_photos
from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as synthetic

ROOT = pathlib.Path(__file__).resolve().parents[1]
VARIANTS = {
    "nalsuper": [],
    "ifa_text": ["--config.model.ifa_text=True"],
    "film_only": ["--config.model.cross_attention=False"],
    "text_free": ["--config.model.film=False", "--config.model.cross_attention=False"],
}
METRICS = ("psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean")
# Training crops scored by `--split=validation`, spread over the demo's 8
# training photos (3 crops each of 20).
VALIDATION_IMAGES = 24
# `--split=heldout`: the demo photos its trainings leave out (config.data.train_exclude)
# and its table scores, every crop darkened afresh. Two natural photos, neither
# half of a near-duplicate pair, chosen before any heldout run.
HELD_OUT = ("china_*", "grace_hopper_*")
PHOTOS_DIR = "workdirs/photos"  # `make photos`'s PHOTOS_DIR
# `--split=unseen`: photos of a package `make photos` fetches that no training
# reads (`real_photos` lists other bundles of it), with their content captions
# in the bundle's order (its 9 WebP pictures; gcompris-qt-data 3.1).
UNSEEN_PACKAGE = "gcompris-qt-data"
UNSEEN_BUNDLE = "usr/share/gcompris-qt/rcc/explore_world_music.rcc"
UNSEEN_CAPTIONS = (
    "an orchestra and its conductor on a concert hall stage",
    "singers in white robes and coloured costumes on a stage",
    "a long-necked lute against a grey background",
    "big drums on a sandy square under paper lanterns at night",
    "smiling musicians in red ties playing guitars and trumpets",
    "a painted man playing a didgeridoo beside a rock",
    "a drum kit and an electric guitar against a brown wall",
    "three carved hand drums lying on green grass",
    "four folk musicians with mandolins and a fiddle on a dark stage",
)
SPLITS = ("test", "validation", "heldout", "unseen")  # what a table scores: `split_examples`


def train_command(variant: str, workdir: pathlib.Path, data_dir: str, steps: int, crop: int,
                  seed: int = 0, overrides: Sequence[str] = ()) -> list[str]:
  """One `main.py --mode=train` of `configs/default.py`; `overrides` are
  `field=value` pairs (`--set`), applied before the variant's own flags."""
  return [sys.executable, "main.py", "--config=configs/default.py", f"--workdir={workdir}",
          f"--config.data.data_dir={data_dir}", "--mode=train", f"--config.train.steps={steps}",
          f"--config.seed={seed}",
          f"--config.data.crop={crop}", "--config.train.eval_every=0",
          f"--config.train.checkpoint_every={steps}",
          *(f"--config.{o}" for o in overrides), *VARIANTS[variant]]


def train(commands: dict[str, list[str]], jobs: int = 1) -> None:
  """Runs the training `commands` (name -> command line), `jobs` at a time.

  More than one at a time pays where trainings are short: each process then
  spends most of its time importing and compiling, on one core (the 40-step
  trainings of `bench.run --quick`). A long training is as fast alone, since
  its steps use every core.
  """
  pending = list(commands.items())
  running: list[tuple[str, subprocess.Popen, IO[str]]] = []
  try:
    while pending or running:
      while pending and len(running) < max(1, jobs):
        name, cmd = pending.pop(0)
        print(f"training {name}: {' '.join(cmd[1:])}", flush=True)
        log = tempfile.TemporaryFile("w+")  # a pipe read only at the end could fill and stall
        running.append((name, subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log,
                                               text=True), log))
      done = next((r for r in running if r[1].poll() is not None), None)
      if done is None:  # the first to end, whichever it is (a failure stops the rest at once)
        time.sleep(0.2)
        continue
      running.remove(done)
      name, run, log = done
      with log:
        if run.returncode:
          log.seek(0)
          raise SystemExit(f"{name}: training failed\n{log.read()[-5000:]}")
  finally:
    for _, run, log in running:  # a failure stops the others
      run.kill()
      run.wait()
      log.close()


def _mean(rows: list[dict]) -> dict:
  return {k: float(np.mean([r[k] for r in rows])) for k in METRICS}


def unseen_examples(config, photos_dir: str | pathlib.Path) -> list[dict]:
  """The `UNSEEN_BUNDLE` photos as the test split's examples: its number and
  size of crops per photo, darkened by the trainings' degradation, each
  captioned with its content and its reference's appearance words."""
  bundle = pathlib.Path(photos_dir) / UNSEEN_PACKAGE / UNSEEN_BUNDLE
  if not bundle.is_file():
    raise FileNotFoundError(f"{bundle}: missing; `make photos` (or PHOTOS_DIR=<dir> make photos) "
                            f"fetches {UNSEEN_PACKAGE} into the --photos_dir")
  count = len(real_photos.bundle_members(bundle))
  if count != len(UNSEEN_CAPTIONS):
    raise ValueError(f"{bundle}: {count} WebP pictures, expected {len(UNSEEN_CAPTIONS)} "
                     f"(UNSEEN_CAPTIONS lists {UNSEEN_PACKAGE} 3.1's)")
  crops, size = synthetic.CROPS["test"]
  degradation = degrade.DegradeConfig.from_config(config.data.degrade)
  examples = []
  for i, content in enumerate(UNSEEN_CAPTIONS):
    photo = real_photos.read_photo(real_photos.Photo(f"unseen_{i}", "test", content, bundle, i))
    for crop in range(crops):
      name = f"unseen_{i}_{crop:02d}"
      low, high = synthetic.darkened_crop(photo, name, size, degradation)
      examples.append({"name": name, "low": low, "high": high,
                       "caption": captions.caption(content, high)})
  return examples


def split_examples(config, data_dir: str, split: str,
                   photos_dir: str | pathlib.Path = PHOTOS_DIR) -> list[dict]:
  """The examples a table scores: the trainings' eval split ("test"), or
  ("validation") `VALIDATION_IMAGES` training crops whose references are
  darkened afresh by the trainings' own degradation, the held-out photos'
  crops ("heldout") or the unseen photos' ("unseen", read from `photos_dir`)."""
  if split == "unseen":
    return unseen_examples(config, photos_dir)
  if split == "test":
    source = pipeline.load_source(config.data.name, config.data.eval_split, data_dir)
    return [source[i] for i in range(len(source))]
  degradation = degrade.DegradeConfig.from_config(config.data.degrade)
  if split == "validation":
    return common.redarkened(
        pipeline.load_source(config.data.name, config.data.train_split, data_dir),
        degradation, VALIDATION_IMAGES)
  if split == "heldout":
    held, _ = pipeline.split_by_names(config.data.name, config.data.train_split, data_dir,
                                      HELD_OUT, "bench.quality.HELD_OUT")
    return common.redarkened(held, degradation, len(held))
  raise ValueError(f"split={split!r}: expected one of {SPLITS}")


def evaluate(root: pathlib.Path, data_dir: str, variants=tuple(VARIANTS),
             split: str = "test", photos_dir: str | pathlib.Path = PHOTOS_DIR) -> dict[str, dict]:
  """One seed's table on `split` ("test", or "validation": `VALIDATION_IMAGES`
  training crops darkened afresh): the baselines' rows and the rows of LABELS
  that the trainings of `variants` under `root` give."""
  config = checkpoints.read_config(root / variants[0])
  examples = split_examples(config, data_dir, split, photos_dir)
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
  nets = {v: Enhancer.from_workdir(root / v) for v in variants}
  if "nalsuper" in nets:
    full = nets["nalsuper"]
    captioned, default = [full(l, c) for l, c in zip(lows, caps)], [full(l) for l in lows]
    table["nalsuper_caption"] = score(captioned)
    table["nalsuper_caption_kept"] = score([captions.keep_exposure_words(o, c)
                                            for o, c in zip(captioned, caps)])
    table["nalsuper_default_prompt"] = score(default)
    table["_exposure"] = exposure_rows(highs, captioned, default)
    table["_content"] = content_rows(full, lows, highs, captioned)
    shuffled = caps[1:] + caps[:1]
    table["nalsuper_shuffled_captions"] = score([full(l, c) for l, c in zip(lows, shuffled)])
    table["_control"] = control_table(full, lows)
  for variant, row in (("ifa_text", "ifa_text_caption"), ("film_only", "film_only_caption")):
    if variant in nets:
      table[row] = score([nets[variant](l, c) for l, c in zip(lows, caps)])
  if "text_free" in nets:
    table["text_free"] = score([nets["text_free"](l) for l in lows])
  table["_meta"] = {"num_images": len(examples), "baseline_params": fitted,
                    "step": nets[variants[0]].step}
  return table


LABELS = {
    "input": "input (no enhancement)",
    "gamma": "gamma (fitted on train)",
    "clahe": "CLAHE (fitted on train)",
    "oracle_exposure": "oracle global exposure (uses the target; not a method)",
    "nalsuper_caption": "NaLSuper, each image's caption",
    "nalsuper_caption_kept": "NaLSuper, each image's caption, exposure words kept",
    "nalsuper_default_prompt": "NaLSuper, default prompt",
    "nalsuper_shuffled_captions": "NaLSuper, captions shuffled across images",
    "ifa_text_caption": "NaLSuper + text-conditioned IFA, caption",
    "film_only_caption": "FiLM-only (sentence conditioning), caption",
    "text_free": "text-free (no TCM, no FiLM)",
}


def summarise(tables: list[dict[str, dict]], seeds: list[int]) -> dict[str, dict]:
  """Per row and metric: the mean over seeds, the sample standard deviation
  (0 for one seed) and the per-seed values."""
  summary = {}
  for key in (k for k in LABELS if k in tables[0]):
    summary[key] = {}
    for m in METRICS:
      values = [t[key][m] for t in tables]
      summary[key][m] = {"mean": float(np.mean(values)),
                         "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                         "values": values}
  summary["_meta"] = tables[0]["_meta"] | {"seeds": seeds}
  if "_control" in tables[0]:
    summary["_demo"] = [demo_row(t) for t in tables]
  return summary


def exposure_rows(highs: list[np.ndarray], captioned: list[np.ndarray],
                  default: list[np.ndarray]) -> list[dict]:
  """Per image: the reference's mean luma, the range its caption's exposure
  phrase names (`captions.phrase_luma_range`; a test caption describes the
  reference), and the mean luma of NaLSuper's outputs with the caption and
  with the default prompt: whether the network sets the brightness it is told."""
  rows = []
  for high, with_caption, with_default in zip(highs, captioned, default):
    appearance = captions.describe(high)
    lo, hi = captions.phrase_luma_range(appearance)
    rows.append({"phrase": appearance.exposure_phrase, "phrase_range": [lo, hi],
                 "reference": captions.mean_luma(np.asarray(high, np.float32) / 255.0),
                 "caption": captions.mean_luma(with_caption),
                 "default_prompt": captions.mean_luma(with_default)})
  return rows


# Content phrases no caption of the demo's photos has, and none of
# `captions.CONTENT_WORDS` (trained with `caption_invented`): a dark and a
# bright scene. Prefixed to each image's own appearance words, they should
# leave the output's brightness where the appearance words alone put it.
CONTENT_PROBES = ("a coal miner's lantern in a gloomy tunnel",
                  "a gleaming snowfield under a blazing noon sun")


def content_rows(net, lows: list[np.ndarray], highs: list[np.ndarray],
                 captioned: list[np.ndarray]) -> dict[str, dict]:
  """Whether a caption's content words move the output's brightness: the
  mean output luma minus the reference's (bias) and its mean absolute value,
  with each image's caption (`captioned`: the outputs already made), with its
  appearance words alone, and with each of `CONTENT_PROBES` before them."""
  looks = [captions.describe(h).text() for h in highs]
  prompts = {"appearance words only": looks}
  prompts |= {f"'{p}', appearance words": [f"{p}, {l}" for l in looks] for p in CONTENT_PROBES}
  outputs = {"caption": captioned}
  outputs |= {name: [net(l, t) for l, t in zip(lows, texts)] for name, texts in prompts.items()}
  ref = np.array([captions.mean_luma(np.asarray(h, np.float32) / 255.0) for h in highs])
  rows = {}
  for name, images in outputs.items():
    err = np.array([captions.mean_luma(o) for o in images]) - ref
    rows[name] = {"bias": float(err.mean()), "abs_error": float(np.abs(err).mean())}
  return rows


def content_check(tables: list[dict], seeds: list[int]) -> str:
  """One sentence: per seed, the luma bias and mean |error| of each prompt of
  `content_rows`."""
  parts = []
  for seed, table in zip(seeds, tables):
    rows = table["_content"]
    parts.append(f"seed {seed}: " + ", ".join(
        f"{name} {r['bias']:+.3f} / {r['abs_error']:.3f}" for name, r in rows.items()))
  return ("Content words (output luma minus the reference's: mean / mean absolute, "
          "NaLSuper): " + "; ".join(parts) + ".")


def exposure_check(tables: list[dict], seeds: list[int]) -> str:
  """One sentence: per seed, on how many images the captioned output's mean
  luma falls in the range its caption names, and the mean absolute luma error
  with the caption and with the default prompt."""
  parts = []
  for seed, table in zip(seeds, tables):
    rows = table["_exposure"]
    inside = sum(r["phrase_range"][0] <= r["caption"] < r["phrase_range"][1] for r in rows)
    error = lambda key: np.mean([abs(r[key] - r["reference"]) for r in rows])
    parts.append(f"seed {seed}: {inside}/{len(rows)}, |error| {error('caption'):.3f} with "
                 f"the caption, {error('default_prompt'):.3f} with the default prompt")
  return ("Exposure (NaLSuper's mean output luma inside the range its caption's exposure "
          "phrase names; mean absolute luma error against the reference): "
          + "; ".join(parts) + ".")


def sentences(summary: dict, tables: list[dict], seeds: list[int]) -> list[str]:
  """What a run says under its table, in order (printed by `main`, and in
  BENCHMARKS.md's block by `bench.run`): the verdict, then each check its
  results hold rows for."""
  said = [verdict(summary)]
  if "_demo" in summary:
    said.append(demo_check(summary))
  if "_exposure" in tables[0]:
    said.append(exposure_check(tables, seeds))
    if len(tables) > 1:
      said.append(exposure_spread.spread_check(tables))
  if "_content" in tables[0]:
    said.append(content_check(tables, seeds))
  return said


def lower_psnr(table: dict, caption_row: str = "nalsuper_caption") -> float:
  """One seed's lower of NaLSuper's caption (`caption_row`) and default-prompt
  PSNR: what the demo's bar and the recipe rules ask of every seed."""
  return min(table[caption_row]["psnr"], table["nalsuper_default_prompt"]["psnr"])


# The demo's bar is judged on the network alone and, where the run has the
# row, with the captions' exposure words kept (`captions.keep_exposure_words`,
# which leaves the default prompt and the text-control prompts' order as the
# network made them); key in `demo_row` -> caption row.
BAR_CAPTION_ROWS = {"": "nalsuper_caption", "kept_": "nalsuper_caption_kept"}


def demo_row(table: dict) -> dict:
  """One seed against the demo's bar: NaLSuper's margins (caption, caption
  with its exposure words kept, default prompt) over the better of gamma and
  CLAHE, and the network's text-control count."""
  best = common.best_baseline(table)
  control = table["_control"]
  row = {"best_baseline": best,
         "default_prompt_margin_db": (table["nalsuper_default_prompt"]["psnr"]
                                      - table[best]["psnr"]),
         "monotonic_images": control["monotonic_images"],
         "num_images": control["num_images"]}
  for prefix, caption_row in BAR_CAPTION_ROWS.items():
    if caption_row in table:
      row[f"{prefix}caption_margin_db"] = table[caption_row]["psnr"] - table[best]["psnr"]
      row[f"{prefix}meets_bar"] = bool(
          lower_psnr(table, caption_row) - table[best]["psnr"] >= common.MIN_MARGIN_DB
          and row["monotonic_images"] == row["num_images"])
  return row


def demo_check(summary: dict) -> str:
  """One sentence per run and caption row: on how many seeds NaLSuper meets
  the demo's bar, and each seed's margins and text-control count."""
  seeds, rows = summary["_meta"]["seeds"], summary["_demo"]
  said = []
  for prefix, what in (("", "NaLSuper with captions"),
                       ("kept_", "NaLSuper with captions, exposure words kept,")):
    if f"{prefix}meets_bar" not in rows[0]:
      continue
    parts = [f"seed {s}: caption {r[prefix + 'caption_margin_db']:+.2f} dB, default prompt "
             f"{r['default_prompt_margin_db']:+.2f} dB over {r['best_baseline']}, text "
             f"control {r['monotonic_images']}/{r['num_images']}" for s, r in zip(seeds, rows)]
    met = sum(r[f"{prefix}meets_bar"] for r in rows)
    said.append(f"Bar ({what} and with the default prompt each at least "
                f"+{common.MIN_MARGIN_DB:.0f} dB over the best non-oracle baseline, text "
                f"control monotonic on every image): met on {met}/{len(rows)} seeds ("
                + "; ".join(parts) + ").")
  return " ".join(said)


def _cell(x: dict, digits: int) -> str:
  shown = round(x["std"], digits)  # float noise between seeds prints no "± 0.000"
  return f"{x['mean']:.{digits}f}" + (f" ± {x['std']:.{digits}f}" if shown else "")


def markdown(summary: dict[str, dict]) -> str:
  """Mean ± sample std over seeds (no ± where the seeds agree to the printed digits)."""
  lines = ["| method | PSNR | SSIM | PSNR (GT-mean) | SSIM (GT-mean) |", "|---|---|---|---|---|"]
  for key, label in ((k, v) for k, v in LABELS.items() if k in summary):
    r = summary[key]
    lines.append(f"| {label} | {_cell(r['psnr'], 2)} | {_cell(r['ssim'], 3)} | "
                 f"{_cell(r['psnr_gt_mean'], 2)} | {_cell(r['ssim_gt_mean'], 3)} |")
  return "\n".join(lines)


# (row, compared with, what the difference says); "text helps" is said when
# captions beat each of the first TEXT_COMPARISONS that was trained.
TEXT_COMPARISONS = 2
COMPARISONS = (
    ("nalsuper_caption", "text_free", "captions vs text-free"),
    ("nalsuper_caption", "nalsuper_shuffled_captions", "vs shuffled captions"),
    ("nalsuper_caption", "film_only_caption", "word cross-attention vs FiLM-only"),
    ("ifa_text_caption", "nalsuper_caption", "text-conditioned IFA vs without"),
)


def verdict(summary: dict[str, dict]) -> str:
  """Which PSNR differences exceed the spread: a difference of means counts
  only where it is larger than the two rows' standard deviations added. One
  seed measures no spread, and then nothing is claimed beyond the numbers."""
  seeds = len(summary["_meta"].get("seeds", [0]))
  parts, text = [], []
  for i, (a, b, what) in enumerate(COMPARISONS):
    if a not in summary or b not in summary:
      continue
    x, y = summary[a]["psnr"], summary[b]["psnr"]
    diff, spread = x["mean"] - y["mean"], x["std"] + y["std"]
    beyond = seeds > 1 and abs(diff) > spread
    parts.append(f"{what} {diff:+.2f} dB" + (f" (spread {spread:.2f}"
                                              f"{', exceeds it' if beyond else ''})"
                                              if seeds > 1 else ""))
    if i < TEXT_COMPARISONS:
      text.append(beyond and diff > 0)
  if not parts:
    return "No text ablation among the networks trained, so no comparison."
  if seeds == 1:
    return ("One seed, so no spread is measured and no difference is called real "
            "(PSNR): " + "; ".join(parts) + ".")
  helps = bool(text) and all(text)
  return (f"Over {seeds} seeds, text "
          f"{'helps beyond the spread' if helps else 'does not help beyond the spread'} "
          f"at this budget (PSNR): " + "; ".join(parts) + ".")


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  demo = default_config.get_config()
  p.add_argument("--steps", type=int, default=demo.train.steps, help="default: the demo's")
  p.add_argument("--crop", type=int, default=demo.data.crop, help="default: the demo's")
  p.add_argument("--seeds", default="0,1,2", help="comma list; every learned row trains once per seed")
  p.add_argument("--variants", default=",".join(VARIANTS),
                 help="comma list of networks to train and score (e.g. nalsuper: the demo "
                      "on every seed)")
  p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                 help="config override for every training, e.g. data.caption_default=0.1 "
                      "(repeatable)")
  p.add_argument("--jobs", type=int, default=1,
                 help="trainings run at once (2 pays for short trainings on 2 cores)")
  p.add_argument("--split", choices=SPLITS, default="test",
                 help="validation: training crops darkened afresh; heldout: trainings "
                      "without the HELD_OUT photos, scored on them; unseen: the demo's "
                      "trainings on UNSEEN_BUNDLE's photos (--photos_dir); all choose a recipe "
                      "without looking at the test split")
  p.add_argument("--photos_dir", default=PHOTOS_DIR,
                 help="where `make photos` unpacked its packages (--split=unseen reads them)")
  p.add_argument("--stop_below", type=float, default=None, metavar="DB",
                 help="stop after a seed whose lower of NaLSuper's caption and default-prompt "
                      "PSNR is under DB: a rule on the worst seed is decided then (the "
                      "results file records the seeds scored)")
  p.add_argument("--root", default="workdirs/bench_quality")
  p.add_argument("--data_dir", default=common.DEMO_DATA_DIR)
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  bad = [o for o in args.set if not re.fullmatch(r"[A-Za-z_][\w.]*=\S+", o)]
  if bad:
    p.error(f"--set: expected FIELD=VALUE (e.g. data.caption_default=0.1), got {bad}")
  seeds = [int(v) for v in args.seeds.split(",")]
  variants = tuple(args.variants.split(","))
  unknown = sorted(set(variants) - set(VARIANTS))
  if unknown:
    p.error(f"--variants: unknown {unknown}; known: {list(VARIANTS)}")
  if args.stop_below is not None and "nalsuper" not in variants:
    p.error("--stop_below reads NaLSuper's rows: --variants must include nalsuper")
  root = trainings_root(pathlib.Path(args.root), args.steps, args.crop, args.set,
                        recipe_digest(demo))
  overrides = list(args.set)
  if args.split == "heldout":  # trainings of their own, without the held-out photos
    root = root.with_name(root.name + "_heldout")
    overrides.append("data.train_exclude=(" + ",".join(map(repr, HELD_OUT)) + ",)")
  name = dict(o.split("=", 1) for o in args.set).get("data.name", demo.data.name)
  data_dir = common.ensure_demo_data(args.data_dir, name)
  tables = []
  for seed in seeds:
    train({variant: train_command(variant, seed_root(root, seed) / variant, data_dir,
                                  args.steps, args.crop, seed, overrides)
           for variant in variants}, args.jobs)
    tables.append(evaluate(seed_root(root, seed), data_dir, variants, args.split,
                           args.photos_dir))
    print(f"seed {seed}: " + ", ".join(f"{LABELS[k]} {tables[-1][k]['psnr']:.2f} dB"
                                       for k in LABELS if k in tables[-1]), flush=True)
    if args.stop_below is not None and lower_psnr(tables[-1]) < args.stop_below:
      print(f"stopped after seed {seed}: {lower_psnr(tables[-1]):.2f} dB is under "
            f"--stop_below={args.stop_below}", flush=True)
      break
  asked, seeds = seeds, seeds[:len(tables)]
  summary = summarise(tables, seeds)
  print(markdown(summary))
  print("\n".join(sentences(summary, tables, seeds)))
  command = common.command("quality", argv)
  name = "quality" if variants == tuple(VARIANTS) else "quality_" + "+".join(variants)
  name += "" if args.split == "test" else "-" + args.split
  path = common.record(name, {"command": command, "steps": args.steps,
                              "crop": args.crop, "overrides": overrides, "seeds": seeds,
                              **({"seeds_asked": asked, "stop_below": args.stop_below}
                                 if seeds != asked else {}),
                              "variants": variants,
                              "split": args.split, "root": str(root),
                              "table": summary, "per_seed": tables}, args.out)
  print(f"wrote {path}")
  return summary


def recipe_digest(config) -> str:
  """8 hex digits naming a resolved config's values: the base recipe's part of
  a trainings folder's name (its --set overrides are spelled out after it)."""
  text = json.dumps(config.to_dict(), sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:8]


def trainings_root(root: pathlib.Path, steps: int, crop: int,
                   overrides: Sequence[str] = (), recipe: str = "") -> pathlib.Path:
  """One folder per budget and recipe, so a rerun reuses only its own trainings."""
  return root / (f"steps{steps}_crop{crop}" + (f"_recipe{recipe}" if recipe else "")
                 + "".join(f"_{o.replace('=', '-').replace('/', '-')}" for o in overrides))


def seed_root(root: pathlib.Path, seed: int) -> pathlib.Path:
  """Where one seed's trainings live (`bench.text_control` reads the first)."""
  return root / f"seed{seed}"


if __name__ == "__main__":
  main()
