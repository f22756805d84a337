"""Where the demo's exposure error comes from: what every seed shares, and what a seed adds.

  python -m bench.exposure_spread bench/results/quality_nalsuper-<...>.json [...]

Reads `bench.quality` results (each seed's `_exposure` rows: every scored
image's reference mean luma and the output's, with its caption and with the
default prompt) and splits each prompt's mean squared luma error, over
images and seeds, into two parts that add up exactly: the part every seed
shares (per image, the square of the seeds' mean error) and the part the
seed adds (the spread about that mean). A recipe change that only changes
how training noise falls can shrink the second part, never the first; that
is why it is worth knowing which one holds the demo's misses.
Writes bench/results/exposure_spread-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from bench import common

PROMPTS = ("caption", "default_prompt")  # the `_exposure` columns bench.quality writes


def decompose(errors: np.ndarray) -> dict[str, float]:
  """Splits the mean square of `errors` (seeds x images) into the per-image
  part the seeds share and the seeds' spread about it (they sum to the total)."""
  errors = np.asarray(errors, np.float64)
  if errors.ndim != 2 or errors.shape[0] < 2:
    raise ValueError(f"errors: expected a seeds x images array with 2 or more seeds, "
                     f"got shape {errors.shape}")
  shared = errors.mean(axis=0)
  total = float(np.mean(errors ** 2))
  common_part = float(np.mean(shared ** 2))
  with np.errstate(invalid="ignore", divide="ignore"):  # a seed without error: nan
    pairs = np.corrcoef(errors)[np.triu_indices(len(errors), 1)]
  worst = np.argsort(-np.abs(shared))[:3]
  return {"mean_square": total, "shared": common_part,
          "seed": float(np.mean((errors - shared) ** 2)),
          "shared_share": common_part / total if total else float("nan"),
          "seed_pair_correlations": [float(r) for r in pairs],
          "worst_shared_images": [int(i) for i in worst],
          "worst_shared_errors": [float(shared[i]) for i in worst]}


def luma_errors(result: dict, prompt: str, source: str = "results") -> np.ndarray:
  """seeds x images: output mean luma minus the reference's, for `prompt`."""
  seeds = result.get("per_seed") or []
  if not seeds or any("_exposure" not in s for s in seeds):
    raise ValueError(f"{source}: expected bench.quality results with per_seed[*]._exposure "
                     "(written since 2026-11-29, commit 7bc70fc)")
  return np.array([[row[prompt] - row["reference"] for row in s["_exposure"]] for s in seeds])


def spread_check(tables: list[dict]) -> str:
  """One sentence for `bench.quality` (two or more seeds): each prompt's mean
  squared luma error and the share of it that every seed has in common."""
  parts = []
  for prompt in PROMPTS:
    d = decompose(luma_errors({"per_seed": tables}, prompt))
    parts.append(f"{prompt.replace('_', ' ')} {d['mean_square']:.4f}, "
                 f"{100 * d['shared_share']:.0f}% of it shared")
  return ("Exposure error shared by the seeds (mean squared luma error over images and "
          "seeds, and the part every seed has in common: bench.exposure_spread): "
          + "; ".join(parts) + ".")


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("results", nargs="+", help="bench.quality JSON files")
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  rows = []
  for path in args.results:
    result = json.loads(pathlib.Path(path).read_text())
    for prompt in PROMPTS:
      try:
        parts = decompose(luma_errors(result, prompt, path))
      except ValueError as e:  # one line naming the file, not a traceback
        raise SystemExit(f"bench.exposure_spread: {e}") from None
      row = {"file": pathlib.Path(path).name, "split": result.get("split", "test"),
             "seeds": result.get("seeds"), "prompt": prompt, **parts}
      rows.append(row)
      print(f"{row['file']} {prompt}: mean squared luma error {row['mean_square']:.4f} = "
            f"shared by the seeds {row['shared']:.4f} ({100 * row['shared_share']:.0f}%) "
            f"+ seed {row['seed']:.4f}; seed pairs' correlation "
            f"{', '.join(f'{r:.2f}' for r in row['seed_pair_correlations'])}; "
            f"largest shared errors (image: luma) "
            + ", ".join(f"{i}: {e:+.3f}" for i, e in zip(row["worst_shared_images"],
                                                            row["worst_shared_errors"])))
  payload = {"command": common.command("exposure_spread", argv), "rows": rows}
  print(f"wrote {common.record('exposure_spread', payload, args.out)}")
  return payload


if __name__ == "__main__":
  main()
