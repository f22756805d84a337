"""`nalsuper-export`: the enhancement function as a portable `jax.export` bundle.

  nalsuper-export --workdir=workdirs/demo/default --output=demo.nalsuper            # any size
  nalsuper-export --workdir=workdirs/demo/default --output=demo.nalsuper --size=400x600

The bundle is one zip file: `function.jaxexport` (serialised StableHLO of
text encoder + network, taking the parameters as its first argument so the
program stays small), `params.npz` (those parameters, in argument order),
`tokenizer/` (the Hugging Face tokenizer files) and `meta.json`.
`nalsuper_jax/exported.py` runs it with only jax, numpy and transformers'
tokenizer: it imports nothing else of ours, so it can be copied next to a
service on its own.
"""

from __future__ import annotations

import argparse
import io
import json
import pathlib
import sys
import tempfile
import zipfile
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from nalsuper_jax import files, inference
from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.enhance import usage
from nalsuper_jax.enhance.enhancer import Enhancer

FORMAT_VERSION = 1
PROG = "nalsuper-export"


def export_bundle(enhancer: Enhancer, path: str | pathlib.Path, *,
                  size: tuple[int, int] | None = None, batch: int | None = 1) -> dict:
  """Writes the bundle (atomically); `size=None` exports symbolic H and W.

  Symbolic sizes are multiples of the network's multiple; the loader pads
  to the Enhancer's `granule` as the Enhancer does, so both give the same
  output. `batch=None` makes the batch size symbolic too.
  """
  m = enhancer.multiple
  if size is not None and (size[0] % m or size[1] % m):
    raise ValueError(f"size {size[0]}x{size[1]} must be multiples of {m} "
                     "(the loader pads images up to it)")
  params = inference.forward_params(enhancer.image_params, enhancer.text_params, enhancer.text)
  leaves, treedef = jax.tree.flatten(params)
  max_len = enhancer.text.tokenizer.max_len if enhancer.text is not None else 1
  b = "b" if batch is None else str(batch)
  h, w = ("h", "w") if size is None else (str(size[0]), str(size[1]))
  dims = jax.export.symbolic_shape(f"{b}, {m}*{h}, {m}*{w}" if size is None
                                   else f"{b}, {h}, {w}")
  low = jax.ShapeDtypeStruct((*dims, 3), jnp.float32)
  ids = jax.ShapeDtypeStruct((1, max_len), jnp.int32)
  mask = jax.ShapeDtypeStruct((1, max_len), jnp.bool_)
  shapes = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
  enhance = inference.forward_fn(enhancer.model, enhancer.text)

  def flat(leaf_list, low, ids, mask):
    return enhance(jax.tree.unflatten(treedef, leaf_list), low, ids, mask)

  exported = jax.export.export(jax.jit(flat), platforms=("cpu", "cuda", "tpu"))(
      shapes, low, ids, mask)
  meta = {"format_version": FORMAT_VERSION, "multiple": m, "granule": enhancer.granule,
          "max_len": max_len,
          "size": list(size) if size else None, "batch": batch,
          "default_prompt": enhancer.default_prompt, "step": enhancer.step,
          "uses_text": enhancer.text is not None, "num_params": len(leaves),
          "input": "float32 [B, H, W, 3] sRGB in [0, 1]; ids int32 [1, L]; mask bool [1, L]"}
  arrays = io.BytesIO()
  np.savez(arrays, **{f"p{i:05d}": np.asarray(x) for i, x in enumerate(leaves)})
  path = pathlib.Path(path)
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr("function.jaxexport", bytes(exported.serialize()))
    z.writestr("params.npz", arrays.getvalue())
    z.writestr("meta.json", json.dumps(meta, indent=2))
    if enhancer.text is not None:
      with tempfile.TemporaryDirectory() as folder:
        enhancer.text.tokenizer.save_pretrained(folder)
        for f in sorted(pathlib.Path(folder).iterdir()):
          z.write(f, f"tokenizer/{f.name}")
  files.write_atomic(path, buffer.getvalue())
  return meta


def _size(text: str) -> tuple[int, int]:
  try:
    h, w = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r}; expected HEIGHTxWIDTH, e.g. 400x608") from None
  return h, w


def _checked(args: argparse.Namespace) -> None:
  """Every argument check that needs no model (UsageError: exit 2)."""
  if args.batch < 0:
    raise usage.UsageError(f"--batch={args.batch}: expected 0 (symbolic) or more")
  if pathlib.Path(args.output).is_dir():
    raise usage.UsageError(f"--output={args.output}: is a folder; expected a bundle file "
                           "name such as model.nalsuper")
  usage.output_folder(pathlib.Path(args.output).parent)
  multiple = usage.workdir_multiple(args.workdir, args.which)
  if args.size is not None and (args.size[0] % multiple or args.size[1] % multiple
                                or min(args.size) <= 0):
    raise usage.UsageError(f"--size={args.size[0]}x{args.size[1]}: expected multiples of "
                           f"{multiple} (the network's size multiple)")


def main(argv: Sequence[str] | None = None) -> int:
  p = usage.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", required=True, help="training workdir")
  p.add_argument("--which", type=usage.checkpoint_choice, default="latest",
                 help="latest, best (by eval PSNR) or a step number")
  p.add_argument("--output", required=True, help="bundle file to write (e.g. model.nalsuper)")
  p.add_argument("--size", type=_size, default=None,
                 help="fixed HEIGHTxWIDTH (multiples of the network's multiple); "
                      "default: symbolic")
  p.add_argument("--batch", type=int, default=1, help="batch size (0: symbolic)")
  args = p.parse_args(argv)
  try:
    _checked(args)
  except usage.UsageError as e:
    usage.fail(PROG, str(e))
  try:
    enhancer = Enhancer.from_workdir(args.workdir, args.which)
  except CheckpointError as e:
    usage.report(PROG, e)
    return 1
  meta = export_bundle(enhancer, args.output, size=args.size, batch=args.batch or None)
  print(f"{PROG}: wrote {args.output} (step {meta['step']}, size "
        f"{'symbolic' if meta['size'] is None else 'x'.join(map(str, meta['size']))}, "
        f"multiple {meta['multiple']}, {meta['max_len']} tokens)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
