"""Reading image files as 8-bit RGB, with errors that name the file.

Datasets arrive as PNG/JPEG/TIFF in every flavour: grayscale, palette, RGBA,
16-bit. All are converted (not rejected) to uint8 RGB [H, W, 3]: grayscale is
repeated over channels, alpha is dropped, 16-bit is rounded to 8 bits.
"""

from __future__ import annotations

import os

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
  """An image file is unreadable, truncated or not an image."""


def is_image(path: str | os.PathLike) -> bool:
  return str(path).lower().endswith(IMAGE_SUFFIXES)


def to_uint8_rgb(array: np.ndarray, where: str = "image") -> np.ndarray:
  """Any grayscale/RGB/RGBA array of uint8/uint16/float to uint8 [H, W, 3]."""
  a = np.asarray(array)
  if a.ndim == 3 and a.shape[-1] == 1:
    a = a[..., 0]
  if a.ndim == 2:
    a = np.repeat(a[..., None], 3, axis=-1)
  if a.ndim != 3 or a.shape[-1] not in (3, 4):
    raise ImageError(f"{where}: expected an H x W grayscale, RGB or RGBA image, "
                     f"got shape {a.shape}")
  a = a[..., :3]
  if a.dtype == np.uint8:
    return np.ascontiguousarray(a)
  if a.dtype == np.uint16:
    return np.round(a.astype(np.float32) / 257.0).astype(np.uint8)
  if np.issubdtype(a.dtype, np.floating):
    return np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
  if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
    hi = 1 if a.dtype == bool else (255 if a.max() <= 255 else 65535)
    return np.round(a.astype(np.float32) * (255.0 / hi)).astype(np.uint8)
  raise ImageError(f"{where}: unsupported pixel type {a.dtype}")


def read_rgb8(path: str | os.PathLike) -> np.ndarray:
  """Reads a file as uint8 RGB, keeping 16-bit precision until the rounding."""
  import imageio.v3 as iio  # pylint: disable=import-outside-toplevel
  path = os.fspath(path)
  try:
    array = iio.imread(path)
  except Exception as e:  # imageio/Pillow/tifffile raise many types
    raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e})") from e
  if array.ndim == 4:  # animated / multi-page: first frame
    array = array[0]
  return to_uint8_rgb(array, path)
