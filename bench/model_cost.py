"""Parameters, XLA GFLOPs and GMACs of the named sizes at given resolutions.

  python -m bench.model_cost [--sizes small,base] [--resolutions 256x256,600x400]

Prints a Markdown table and writes bench/results/model_cost-<host>-<date>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import socket

import jax

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
  record = {"command": "python -m bench.model_cost", "host": socket.gethostname(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "backend": jax.default_backend(), "jax": jax.__version__,
            "date": datetime.date.today().isoformat(), "rows": rows}
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  path = out / f"model_cost-{jax.default_backend()}-{record['date']}.json"
  tmp = path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(record, indent=2))
  tmp.rename(path)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
