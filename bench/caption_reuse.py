"""How often training captions repeat: what the text-feature cache saves.

  python -m bench.caption_reuse [--data_dir DIR] [--steps N]

Reads the training batches of a config exactly as `train.run` would (caption
augmentation included; no network runs) and counts the distinct token
sequences among them: the frozen text tower runs once per distinct caption
(`text/cache.py`), so `1 - distinct / captions` of the tower's work is saved
(the cache's LRU bound aside). Writes bench/results/caption_reuse-*.json.
"""

from __future__ import annotations

import argparse

from bench import common
from configs import default
from nalsuper_jax import checkpoints, train


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data_dir", default=common.DEMO_DATA_DIR,
                 help="TFDS data_dir; synthetic_lowlight is built there if absent")
  p.add_argument("--steps", type=int, default=None, help="default: the config's")
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  config = default.get_config()
  config.data.data_dir = common.ensure_demo_data(args.data_dir)
  steps = args.steps or config.train.steps
  text = checkpoints.build_text(config, checkpoints.build_model(config))
  iterator = train.train_iterator(config, text)
  distinct, captions, rows = set(), 0, []
  for step in range(1, steps + 1):
    batch = next(iterator)
    for ids, mask in zip(batch["ids"], batch["mask"]):
      distinct.add(ids.tobytes() + mask.tobytes())
    captions += len(batch["ids"])
    if step % max(1, steps // 6) == 0 or step == steps:
      rows.append({"step": step, "captions": captions, "distinct": len(distinct),
                   "reused": 1 - len(distinct) / captions})
      print(f"step {step}: {captions} captions, {len(distinct)} distinct, "
            f"{100 * rows[-1]['reused']:.1f}% reused", flush=True)
  command = common.command("caption_reuse", argv)
  result = {"command": command, "config": "configs/default.py",
            "batch": config.data.batch_size, "steps": steps, "rows": rows}
  print(f"wrote {common.record('caption_reuse', result, args.out)}")
  return result


if __name__ == "__main__":
  main()
