"""`python -m nalsuper_jax.enhance.ship`: a training run's weights into the package.

  python -m nalsuper_jax.enhance.ship --workdir=workdirs/pretrained/run --out=nalsuper_jax/weights

The last step of `make pretrained`. Writes the evaluated weights (EMA when
kept) of the chosen checkpoint and the run's config (`shipped.write`), after
the same checks inference makes on a checkpoint; no optimizer is built.
"""

from __future__ import annotations

import datetime
import sys
from typing import Sequence

from nalsuper_jax import checkpoints, shipped
from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.enhance import usage

PROG = "nalsuper-ship"


def main(argv: Sequence[str] | None = None) -> int:
  p = usage.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", required=True, help="training workdir")
  p.add_argument("--which", type=usage.checkpoint_choice, default="latest",
                 help="latest, best (by eval PSNR) or a step number")
  p.add_argument("--out", default=str(shipped.SHIPPED_DIR), help="folder to write into")
  args = p.parse_args(argv)
  try:
    config = checkpoints.read_config(args.workdir)
    _, text, image_params, text_params, step = checkpoints.restore_params(
        config, args.workdir, args.which)
    trained_text = text is not None and config.text.get("trainable", False)
    path = shipped.write(args.out, config, image_params, text_params if trained_text else None,
                         {"step": step, "workdir": args.workdir,
                          "written": datetime.date.today().isoformat()})
  except (CheckpointError, ValueError) as e:
    usage.report(PROG, e)
    return 1
  print(f"{path}: step {step} of {args.workdir} ({path.stat().st_size / 2**20:.1f} MiB)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
