"""Parameters, XLA GFLOPs and GMACs of the named sizes at given resolutions.

  python -m bench.model_cost [--sizes small,base] [--resolutions 256x256,600x400]

Prints a Markdown table and writes bench/results/model_cost-<host>-<date>.json.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import numpy as np

from bench import common
from nalsuper_jax import models, text
from nalsuper_jax.models import cost


def text_encoder_cost() -> dict:
  """Parameters and XLA FLOPs of the default text tower for one caption."""
  cfg = text.default_config()
  encoder = text.load_text_encoder(cfg)
  ids, mask = encoder.tokenizer(["a well-exposed photo"])
  flops = cost.xla_flops(lambda p, i, m: encoder.module.apply({"params": p}, i, m),
                         encoder.params, ids, mask)
  params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(encoder.params))
  return {"checkpoint": cfg.checkpoint, "params": params, "tokens": cfg.max_len,
          "gflops": flops / 1e9}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="small,base")
  parser.add_argument("--resolutions", default="256x256,400x600")
  parser.add_argument("--out", default="bench/results")
  args = parser.parse_args(argv)
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
  encoder = text_encoder_cost()
  print(f"\ntext encoder ({encoder['checkpoint']}, frozen, once per caption): "
        f"{encoder['params']:,} params, {encoder['gflops']:.3f} GFLOPs (XLA) per "
        f"{encoder['tokens']}-token caption")
  path = common.record("model_cost", {"command": common.command("model_cost", argv), "rows": rows,
                                      "text_encoder": encoder}, args.out)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
