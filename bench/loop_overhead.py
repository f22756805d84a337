"""The training loop's overhead over the bare compiled step, at the demo shape.

  python -m bench.loop_overhead [--steps 40] [--warmup 10] [--data_dir DIR]

Bare: `bench.train_step.compile_step`/`time_steps` (the jitted train step on one fixed batch of
the demo shape, timed step by step, median). Loop: `train.run` on `configs/default.py` (grain
pipeline with on-the-fly degradation, metrics fetched every `log_every`
steps, Orbax manager consulted every step), timed from the `uptime` the
loop writes to `metrics.jsonl` between two log steps after the warm-up.
Periodic evaluation and intermediate checkpoints are off so that the
difference is the loop itself. The bare step (compiled once) is measured before
and after the loop and averaged: on a shared 2-core machine the speed drifts
by several percent over minutes, as much as the effect measured. Reads
`synthetic_lowlight` from --data_dir (`make demo`'s copy by default; built
there if absent). Writes bench/results/loop_overhead-*.json.
"""

from __future__ import annotations

import argparse
import math
import tempfile

import ml_collections

from bench import common, train_step
from configs import default
from nalsuper_jax import compile_cache, train


def loop_config(config: ml_collections.ConfigDict, steps: int,
                warmup: int) -> ml_collections.ConfigDict:
  """`config` for a timed run of `warmup + steps` steps (changed in place)."""
  with config.unlocked():
    config.train.steps = warmup + steps
    # Both ends of the window must be log steps; the cadence is the largest that
    # allows it (fetching every step would hold the host at every step: 10 steps
    # after 3 read +21% that way, against +7.8% over 40 steps fetched every 10).
    config.train.log_every = math.gcd(warmup, steps)
    config.train.checkpoint_every = warmup + steps
    config.train.eval_every = 0
  return config


def loop_step_seconds(config, workdir: str, steps: int, warmup: int) -> float:
  """Seconds per step of `train.run` between log steps `warmup` and `warmup + steps`."""
  train.run(loop_config(config, steps, warmup), workdir)
  metrics = train.read_metrics(workdir)
  return (metrics[warmup + steps]["uptime"] - metrics[warmup]["uptime"]) / steps


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--steps", type=int, default=40)
  p.add_argument("--warmup", type=int, default=10)
  p.add_argument("--data_dir", default=common.DEMO_DATA_DIR,
                 help="TFDS data_dir; synthetic_lowlight is built there if absent")
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  config = loop_config(default.get_config(), args.steps, args.warmup)
  config.data.data_dir = common.ensure_demo_data(args.data_dir)
  # One compile serves both bare timings (compiling is most of this script's time),
  # and, through the persistent cache, the loop: the bare step is built from the
  # loop's own config (its schedule's length is in the program), so `train.run`
  # reads the same program back instead of compiling it again.
  compile_cache.enable()
  compiled, step_args, _, _ = train_step.compile_step(config.model.size, config.data.crop,
                                                      config.data.batch_size, base=config)
  before, _, step_args = train_step.time_steps(compiled, step_args, args.steps)
  with tempfile.TemporaryDirectory() as tmp:
    loop = loop_step_seconds(config, f"{tmp}/run", args.steps, args.warmup)
  after, _, _ = train_step.time_steps(compiled, step_args, args.steps)
  bare = (before + after) / 2
  overhead = loop / bare - 1
  print(f"demo shape ({config.data.batch_size}x{config.data.crop}x{config.data.crop}): bare "
        f"step {bare:.4f} s (before {before:.4f}, after {after:.4f}), loop {loop:.4f} s per "
        f"step, overhead {100 * overhead:+.1f}%")
  command = common.command("loop_overhead", argv)
  result = {"command": command, "batch": config.data.batch_size,
            "crop": config.data.crop, "steps": args.steps, "bare_step_s": bare,
            "bare_step_before_s": before, "bare_step_after_s": after,
            "loop_step_s": loop, "overhead": overhead,
            "reader_threads": config.data.num_threads, "reader_nice": config.data.reader_nice}
  print(f"wrote {common.record('loop_overhead', result, args.out)}")
  return result


if __name__ == "__main__":
  main()
