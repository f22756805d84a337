"""Parameters, XLA GFLOPs and GMACs of the named sizes at given resolutions.

  python -m bench.model_cost [--sizes small,base] [--resolutions 256x256,600x400]

Prints a Markdown table and writes bench/results/model_cost-<host>-<date>.json.
"""

from __future__ import annotations

import argparse
import dataclasses

from bench import common
from nalsuper_jax import models


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="small,base")
  parser.add_argument("--resolutions", default="256x256,400x600")
  parser.add_argument("--out", default="bench/results")
  args = parser.parse_args()
  rows = []
  for size in args.sizes.split(","):
    for res in args.resolutions.split(","):
      h, w = (int(v) for v in res.split("x"))
      rows.append(dataclasses.asdict(models.model_cost(models.model_config(size), h, w))
                  | {"size": size})
  print("| size | HxW | params (image net) | GFLOPs (XLA) | GMACs |")
  print("|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['size']} | {r['height']}x{r['width']} | {r['params']:,} | "
          f"{r['gflops']:.2f} | {r['gmacs']:.2f} |")
  path = common.record("model_cost", {"command": "python -m bench.model_cost", "rows": rows},
                       args.out)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
