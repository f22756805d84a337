"""Data-parallel scaling on forced host devices: step time and equal results.

  python -m bench.scaling [--devices 1,2,4,8] [--crop 64] [--batch 8] [--steps 3]

Each device count runs in its own process with
XLA_FLAGS=--xla_force_host_platform_device_count=N (the same 2 cores split
into N devices, so this checks the sharded program's correctness and
overhead, not speed-up). The global batch and data are identical, so the
loss sequence must match the 1-device run to float tolerance.
Writes bench/results/scaling-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench import common, train_step


def main(argv=None) -> list[dict]:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--devices", default="1,2,4,8")
  p.add_argument("--model", default="small")
  p.add_argument("--crop", type=int, default=64)
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--out", default="bench/results")
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.child:
    row = train_step.measure(args.model, args.crop, args.batch, args.steps)
    common.print_result(row)
    return [row]
  rows = []
  for n in (int(v) for v in args.devices.split(",")):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
               JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-m", "bench.scaling", "--child", f"--model={args.model}",
           f"--crop={args.crop}", f"--batch={args.batch}", f"--steps={args.steps}"]
    row = common.run_child(cmd, f"{n} devices", env)
    row["max_loss_diff_vs_first"] = (max(abs(a - b) for a, b in
                                         zip(row["losses"], rows[0]["losses"]))
                                     if rows else 0.0)
    rows.append(row)
    print(f"{n} devices: step {row['step_s']:.3f} s, losses "
          f"{', '.join(f'{v:.6f}' for v in row['losses'])}, max |diff| vs 1 device "
          f"{row['max_loss_diff_vs_first']:.2e}", flush=True)
  command = common.command("scaling", argv)
  path = common.record("scaling", {"command": command, "rows": rows}, args.out)
  print(f"wrote {path}")
  return rows


if __name__ == "__main__":
  main()
