"""Reading and writing users' photos without losing what the network ignores.

The network sees float RGB; a photo can be 8- or 16-bit, grayscale, RGBA and
rotated by an EXIF tag. `read_photo` keeps those facts in a `Photo` so
`write_photo` can give back the same kind of file: same bit depth where the
format has it, alpha untouched, grayscale in -> grayscale out, pixels upright.
Writes go to a hidden temporary name and are renamed into place, so an
interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib

import imageio.v3 as iio
import numpy as np
import png

from nalsuper_jax import files
from nalsuper_jax.data import images
from nalsuper_jax.data.images import ImageError

SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")


@dataclasses.dataclass
class Photo:
  """A decoded photo: `pixels` as stored (upright), plus how to rebuild it."""
  pixels: np.ndarray            # [H, W] or [H, W, C], uint8 or uint16, EXIF-rotated
  path: str = "<array>"

  @property
  def bits(self) -> int:
    return 16 if self.pixels.dtype == np.uint16 else 8

  @property
  def gray(self) -> bool:
    return self.pixels.ndim == 2 or self.pixels.shape[-1] in (1, 2)

  @property
  def alpha(self) -> np.ndarray | None:
    if self.pixels.ndim == 3 and self.pixels.shape[-1] in (2, 4):
      return self.pixels[..., -1]
    return None

  def rgb(self) -> np.ndarray:
    """float32 [H, W, 3] in [0, 1] (gray repeated, alpha dropped)."""
    return to_float_rgb(self.pixels)


def to_float_rgb(pixels: np.ndarray, where: str = "image") -> np.ndarray:
  """[..., H, W] / [..., H, W, 1|2|3|4] uint8/uint16/float -> float32 [..., H, W, 3]."""
  a = np.asarray(pixels)
  if a.dtype == np.uint8:
    x = a.astype(np.float32) / 255.0
  elif a.dtype == np.uint16:
    x = a.astype(np.float32) / 65535.0
  elif np.issubdtype(a.dtype, np.floating):
    x = np.clip(a.astype(np.float32), 0.0, 1.0)
  else:
    raise ImageError(f"{where}: expected uint8, uint16 or float pixels in [0, 1], got {a.dtype}")
  if x.ndim >= 3 and x.shape[-1] in (1, 2, 3, 4):
    x = x[..., :3] if x.shape[-1] >= 3 else np.repeat(x[..., :1], 3, axis=-1)
  elif x.ndim == 2:
    x = np.repeat(x[..., None], 3, axis=-1)
  else:
    raise ImageError(f"{where}: expected H x W (gray) or H x W x 1/2/3/4 pixels, "
                     f"got shape {a.shape}")
  return x


def from_float_rgb(rgb: np.ndarray, like: np.ndarray) -> np.ndarray:
  """Enhanced float RGB -> the layout and dtype of `like` (alpha copied from it)."""
  like = np.asarray(like)
  out = np.clip(rgb, 0.0, 1.0)
  gray = like.ndim == rgb.ndim - 1 or (like.shape[-1] in (1, 2) and like.ndim == rgb.ndim)
  if gray:
    out = out.mean(-1, keepdims=True)
  if like.dtype == np.uint8:
    out = np.round(out * 255.0).astype(np.uint8)
  elif like.dtype == np.uint16:
    out = np.round(out * 65535.0).astype(np.uint16)
  else:
    out = out.astype(like.dtype)
  if like.ndim == rgb.ndim - 1:           # [H, W] gray
    return out[..., 0]
  if like.shape[-1] in (2, 4):            # alpha passes through untouched
    out = np.concatenate([out, like[..., -1:]], axis=-1)
  return out


def read_photo(path: str | os.PathLike) -> Photo:
  """Decodes a PNG/JPEG/TIFF/WebP/BMP file (see `images.read_image` for what it refuses)."""
  return Photo(images.read_image(path), os.fspath(path))


def encode(pixels: np.ndarray, suffix: str, *, jpeg_quality: int = 95) -> bytes:
  """The file bytes of `pixels` in the format named by `suffix`."""
  suffix = suffix.lower()
  if pixels.dtype == np.uint16 and suffix == ".png":
    planes = 1 if pixels.ndim == 2 else pixels.shape[-1]
    writer = png.Writer(pixels.shape[1], pixels.shape[0], bitdepth=16,
                        greyscale=planes in (1, 2), alpha=planes in (2, 4))
    buffer = io.BytesIO()
    writer.write(buffer, pixels.reshape(pixels.shape[0], -1))
    return buffer.getvalue()
  if pixels.dtype == np.uint16 and suffix not in SIXTEEN_BIT_SUFFIXES:
    pixels = np.round(pixels.astype(np.float32) / 257.0).astype(np.uint8)
  if suffix in (".jpg", ".jpeg") and pixels.ndim == 3 and pixels.shape[-1] in (2, 4):
    pixels = pixels[..., :-1]  # JPEG has no alpha channel
  kwargs = {"quality": jpeg_quality} if suffix in (".jpg", ".jpeg", ".webp") else {}
  return iio.imwrite("<bytes>", pixels, extension=suffix, **kwargs)


def write_photo(path: str | os.PathLike, pixels: np.ndarray, *, jpeg_quality: int = 95) -> None:
  """Encodes in memory (the format from the suffix), then writes atomically."""
  files.write_atomic(path, encode(np.asarray(pixels), pathlib.Path(path).suffix,
                            jpeg_quality=jpeg_quality))
