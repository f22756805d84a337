"""Text control: does the output get brighter as the prompt asks for more light?

  python -m bench.text_control --workdir=workdirs/demo/default [--check]

Enhances every image of the workdir's test split with each prompt of
PROMPTS (same network, same input, only the words change) and reports the
mean output luminance (Rec.709 luma of sRGB in [0, 1]) per prompt, averaged
over the split, and on how many images it increases strictly in prompt
order. `--check` exits with status 1 unless it does on every image (`make
demo` runs it on the demo checkpoint). Writes
bench/results/text_control-<backend>-<date>.json.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from PIL import Image, ImageDraw

from bench import common
from nalsuper_jax import checkpoints, quiet_logs
from nalsuper_jax.data import pipeline
from nalsuper_jax.data.captions import mean_luma  # as the caption describer measures it
from nalsuper_jax.enhance import Enhancer, photo_io

PROMPTS = ("a dark photo", "a dim photo", "a well-exposed photo", "a bright photo")


def control_table(enhancer, images, prompts=PROMPTS) -> dict:
  """{prompt: mean luma}, per-image lumas and the monotonic count."""
  lumas = np.array([[mean_luma(enhancer(img, prompt=p)) for p in prompts]
                    for img in images])
  monotonic = np.all(np.diff(lumas, axis=1) > 0, axis=1)
  return {"prompts": list(prompts), "mean_luma": dict(zip(prompts, lumas.mean(0).tolist())),
          "per_image": lumas.tolist(), "monotonic_images": int(monotonic.sum()),
          "num_images": len(images)}


def write_picture(path: str, enhancer, images, prompts=PROMPTS[1:]) -> None:
  """Rows of low | one output per prompt, each captioned with its prompt."""
  rows = []
  for image in images:
    tiles = [image] + [enhancer(image, prompt=p) for p in prompts]
    rows.append(np.concatenate(tiles, axis=1))
  canvas = Image.fromarray(np.round(np.concatenate(rows, axis=0) * 255).astype(np.uint8))
  draw = ImageDraw.Draw(canvas)
  width = images[0].shape[1]
  for i, label in enumerate(("input",) + tuple(f'"{p}"' for p in prompts)):
    draw.text((i * width + 6, 4), label, fill=(255, 255, 255))
  photo_io.write_photo(path, np.asarray(canvas))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--which", default="latest", choices=("latest", "best"))
  p.add_argument("--check", action="store_true", help="exit 1 unless monotonic on every image")
  p.add_argument("--picture", default=None,
                 help="also write a PNG: low | dim | well-exposed | bright, two test images")
  p.add_argument("--out", default="bench/results")
  args = p.parse_args(argv)
  config = checkpoints.read_config(args.workdir)
  enhancer = Enhancer.from_workdir(args.workdir, args.which)
  source = pipeline.load_source(config.data.name, config.data.eval_split, config.data.data_dir)
  names = [pipeline.text(source[i]["name"]) for i in range(len(source))]
  images = [np.asarray(source[i]["low"], np.float32) / 255.0 for i in range(len(source))]
  table = control_table(enhancer, images)
  print(f"Text control on {table['num_images']} {config.data.eval_split} images "
        f"(step {enhancer.step}): mean output luminance per prompt")
  print("| prompt | mean luma |\n|---|---|")
  for prompt, luma in table["mean_luma"].items():
    print(f"| {prompt} | {luma:.3f} |")
  print(f"monotonic (dark < dim < well-exposed < bright) on {table['monotonic_images']}/"
        f"{table['num_images']} images")
  for name, row in zip(names, table["per_image"]):
    if not np.all(np.diff(row) > 0):
      print(f"  not monotonic: {name}: " + " ".join(f"{v:.3f}" for v in row))
  if args.picture:
    write_picture(args.picture, enhancer, images[:2])
    print(f"wrote {args.picture}")
  path = common.record("text_control", {"command": common.command("text_control", argv), "workdir": args.workdir,
                                        "step": enhancer.step, "names": names, **table},
                       args.out)
  print(f"wrote {path}")
  if args.check and table["monotonic_images"] != table["num_images"]:
    print("text control check FAILED", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  quiet_logs.install()   # `make demo`'s last step: its output is the table
  sys.exit(main())
