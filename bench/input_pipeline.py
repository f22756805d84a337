"""Training examples/s of the grain input pipeline on this machine.

  python -m bench.input_pipeline [--pairs 48] [--crop 256] [--batch 8] [--batches 60]

Makes `--pairs` 600x400 pairs (real photos from the installed wheels, darkened
by the section-7 model), builds them as a `paired_folder` TFDS dataset in a
temporary directory, then times the training iterator (shuffle, paired crop,
flips/rotations, tokenization, batching, prefetch) after a warm-up.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import numpy as np
import imageio.v3 as iio
import tensorflow_datasets as tfds
from PIL import Image

from bench import common
from nalsuper_jax import text
from nalsuper_jax.data import degrade, images, pipeline
from tfds_builders.paired_folder import paired_folder_dataset_builder as paired_folder
from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as synthetic


def make_pairs(folder: pathlib.Path, n: int) -> None:
  """n 400x600 (HxW) pairs cut from the wheel photos, written as PNG."""
  photos = synthetic.photos()
  rng = np.random.default_rng(0)
  (folder / "low").mkdir(parents=True)
  (folder / "high").mkdir(parents=True)
  for i in range(n):
    p = photos[i % len(photos)]
    clean = np.asarray(Image.open(images.package_file(p["package"], p["path"]))
                       .convert("RGB").resize((600, 400), Image.BICUBIC))
    low, high = degrade.degrade(clean, rng)
    iio.imwrite(folder / "low" / f"{i:04d}.png", low)
    iio.imwrite(folder / "high" / f"{i:04d}.png", high)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--pairs", type=int, default=48)
  parser.add_argument("--crop", type=int, default=256)
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--batches", type=int, default=60)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--prefetch", type=int, default=32)
  parser.add_argument("--workers", type=int, default=0)
  parser.add_argument("--out", default="bench/results")
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp:
    tmp = pathlib.Path(tmp)
    make_pairs(tmp / "manual", args.pairs)
    builder = paired_folder.Builder(data_dir=str(tmp / "data"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(tmp / "manual")))
    source = builder.as_data_source(split="train")
    tokenizer = text.load_text_encoder(text.default_config()).tokenizer
    ds = pipeline.train_dataset(source, crop=args.crop, global_batch=args.batch, seed=0,
                                tokenizer=tokenizer)
    it = pipeline.train_iterator(ds, num_threads=args.threads, prefetch=args.prefetch,
                                 worker_count=args.workers)
    for _ in range(5):  # warm-up: threads started, buffers filled
      next(it)
    start = time.perf_counter()
    for _ in range(args.batches):
      next(it)
    seconds = time.perf_counter() - start
  rate = args.batches * args.batch / seconds
  print(f"input pipeline: {rate:.1f} examples/s ({args.crop}x{args.crop} crops from 600x400 "
        f"pairs, batch {args.batch}, {args.threads} threads, {args.workers} workers)")
  path = common.record("input_pipeline", {
      "command": common.command("input_pipeline", argv), "args": vars(args),
      "examples_per_second": rate, "seconds": seconds}, args.out)
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
