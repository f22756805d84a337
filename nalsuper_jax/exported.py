"""Runs a `nalsuper-export` bundle with jax, numpy and transformers' tokenizer only.

Self-contained on purpose: `ExportedEnhancer` imports nothing else from
nalsuper_jax, so it can be copied into a service that never installs the
training code. The command line reads and writes files with the same code as
`nalsuper-enhance` (bit depth, alpha, gray, EXIF orientation, the decoder's
refusals), so one photo gives the same file either way.

    python -m nalsuper_jax.exported model.nalsuper dark.png bright.png --prompt "a bright photo"

    from nalsuper_jax.exported import ExportedEnhancer
    enhance = ExportedEnhancer("model.nalsuper")
    out = enhance(rgb_float_hw3, prompt="a well-exposed photo")   # float32 in [0, 1]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import zipfile

import jax
import numpy as np


class BundleError(ValueError):
  """The bundle file is missing, damaged or of another format version."""


class ExportedEnhancer:
  """Loads a bundle; `__call__(rgb [H, W, 3] or [B, H, W, 3] float in [0, 1], prompt)`."""

  def __init__(self, path: str):
    try:
      self._load(path)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, EOFError, OSError) as e:
      if isinstance(e, FileNotFoundError):
        raise BundleError(f"{path}: no such file; expected a bundle written by "
                          "nalsuper-export") from None
      raise BundleError(f"{path}: not a readable NaLSuper bundle ({type(e).__name__}: {e}); "
                        "expected a zip written by nalsuper-export") from None

  def _load(self, path: str) -> None:
    with zipfile.ZipFile(path) as z:
      self.meta = json.loads(z.read("meta.json"))
      if self.meta.get("format_version") != 1:
        raise BundleError(f"{path}: bundle format {self.meta.get('format_version')} "
                         "is not supported (expected 1)")
      self.function = jax.export.deserialize(bytearray(z.read("function.jaxexport")))
      with np.load(io.BytesIO(z.read("params.npz"))) as arrays:
        self.params = [arrays[f"p{i:05d}"] for i in range(self.meta["num_params"])]
      self.tokenizer = None
      if self.meta["uses_text"]:
        # Deferred: transformers takes seconds to import; only text bundles need it.
        from transformers import AutoTokenizer  # pylint: disable=import-outside-toplevel
        with tempfile.TemporaryDirectory() as folder:
          z.extractall(folder, [n for n in z.namelist() if n.startswith("tokenizer/")])
          self.tokenizer = AutoTokenizer.from_pretrained(f"{folder}/tokenizer")

  def prompt_or_default(self, prompt: str | None) -> str:
    """What `None` means wherever a prompt is taken: the bundle's default prompt."""
    return self.meta["default_prompt"] if prompt is None else prompt

  def tokens(self, prompt: str | None) -> tuple[np.ndarray, np.ndarray]:
    length = self.meta["max_len"]
    if self.tokenizer is None:
      return np.zeros((1, length), np.int32), np.zeros((1, length), bool)
    out = self.tokenizer([self.prompt_or_default(prompt)], padding="max_length", truncation=True, max_length=length,
                         return_attention_mask=True)
    return (np.asarray(out["input_ids"], np.int32),
            np.asarray(out["attention_mask"], bool))

  def __call__(self, rgb: np.ndarray, prompt: str | None = None) -> np.ndarray:
    rgb = np.asarray(rgb, np.float32)
    single = rgb.ndim == 3
    batch = rgb[None] if single else rgb
    n, h, w, _ = batch.shape
    if self.meta["size"] is not None:
      th, tw = self.meta["size"]
      if h > th or w > tw:
        raise ValueError(f"image {h}x{w} is larger than the bundle's fixed size {th}x{tw}")
    else:
      m = self.meta.get("granule", self.meta["multiple"])  # as the exporting Enhancer pads
      th, tw = -(-h // m) * m, -(-w // m) * m
    mode = "reflect" if (th - h < h and tw - w < w) else "symmetric"
    padded = np.pad(batch, ((0, 0), (0, th - h), (0, tw - w), (0, 0)), mode=mode)
    if self.meta["batch"] is not None and n != self.meta["batch"]:
      raise ValueError(f"batch of {n}; this bundle was exported for batch {self.meta['batch']}")
    ids, mask = self.tokens(prompt)
    out = np.asarray(self.function.call(self.params, padded, ids, mask))[:, :h, :w]
    return out[0] if single else out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="python -m nalsuper_jax.exported",
                              description="Enhance an image with an exported NaLSuper bundle.")
  p.add_argument("bundle")
  p.add_argument("input")
  p.add_argument("output")
  p.add_argument("--prompt", default=None)
  p.add_argument("--keep-exposure-words", action="store_true",
                 help="as nalsuper-enhance's: the result re-exposed into the brightness the "
                      "prompt's exposure words name")
  args = p.parse_args(argv)
  # Deferred: the class above must stay importable without the rest of the package.
  from nalsuper_jax.data import captions  # pylint: disable=import-outside-toplevel
  from nalsuper_jax.enhance import photo_io  # pylint: disable=import-outside-toplevel
  try:
    photo = photo_io.read_photo(args.input)
    enhancer = ExportedEnhancer(args.bundle)
    out = enhancer(photo.rgb(), args.prompt)
    if args.keep_exposure_words:
      out = captions.keep_exposure_words(out, enhancer.prompt_or_default(args.prompt))
    photo_io.write_photo(args.output, photo_io.from_float_rgb(out, photo.pixels))
  except (ValueError, OSError) as e:  # BundleError, ImageError, size/batch limits, disk
    if os.environ.get("NALSUPER_DEBUG", "") not in ("", "0"):
      raise
    message = str(e)
    if args.input not in message and args.bundle not in message and args.output not in message:
      message = f"{args.input}: {message}"
    print(f"{p.prog}: {message}", file=sys.stderr)
    return 1
  print(f"wrote {args.output}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
