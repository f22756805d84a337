"""Reading image files, with every refusal naming the file.

One decoder for datasets and users' photos alike. `read_image` gives the
pixels as stored (uint8 or uint16, gray/RGB/RGBA), turned upright by the
EXIF orientation tag, after checks a careful photo tool makes before it
decodes: one still frame (an animation or a multi-page file is refused, not
cut to its first frame), at most `MAX_PIXELS` pixels in every format and bit
depth (a small compressed file can expand to gigabytes), and colour spaces
other than gray/RGB (CMYK, YCbCr, LAB) converted to RGB rather than read as
RGB plus alpha. `read_rgb8` reduces the result to the 8-bit RGB the dataset
records hold.
"""

from __future__ import annotations

import importlib
import os
import pathlib

import imageio.v3 as iio
import numpy as np
import png  # pypng: exact 16-bit PNG (Pillow reduces 48/64-bit PNG to 8 bits)
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Pillow's own refusal threshold (it only warns between 1x and 2x
# MAX_IMAGE_PIXELS), applied here to every format and bit depth alike.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS
_CONVERT_TO_RGB = ("CMYK", "YCbCr", "LAB", "HSV")  # Pillow modes that are not RGB(A)/gray
_EXIF_ORIENTATION = 0x0112


class ImageError(ValueError):
  """An image file is unreadable, truncated, too large or not an image."""


def is_image(path: str | os.PathLike) -> bool:
  return str(path).lower().endswith(IMAGE_SUFFIXES)


def to_uint8_rgb(array: np.ndarray, where: str = "image") -> np.ndarray:
  """Any grayscale/RGB/RGBA array of uint8/uint16/float to uint8 [H, W, 3]."""
  a = np.asarray(array)
  if a.ndim == 3 and a.shape[-1] in (1, 2):   # gray (+ alpha)
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
  raise ImageError(f"{where}: unsupported pixel type {a.dtype}")


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
  """Applies an EXIF orientation (1-8) so the pixels are upright."""
  ops = {
      2: lambda a: a[:, ::-1],
      3: lambda a: a[::-1, ::-1],
      4: lambda a: a[::-1],
      5: lambda a: np.swapaxes(a, 0, 1),
      6: lambda a: np.rot90(a, -1),
      7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1),
      8: lambda a: np.rot90(a, 1),
  }
  return np.ascontiguousarray(ops[orientation](array)) if orientation in ops else array


def _header(path: str) -> tuple[int, int, int, str, int]:
  """(width, height, frames, Pillow mode, EXIF orientation), without decoding pixels."""
  try:
    with Image.open(path) as im:
      try:
        orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1))
      except Exception:  # pylint: disable=broad-except  # a damaged EXIF block: upright
        orientation = 1
      return im.width, im.height, int(getattr(im, "n_frames", 1)), im.mode, orientation
  except Image.DecompressionBombError as e:
    raise ImageError(f"{path}: {e}; expected at most {MAX_PIXELS} pixels") from None
  except Exception as e:  # pylint: disable=broad-except  # decoders raise many types
    raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None


def _png_bit_depth(path: str) -> int:
  with open(path, "rb") as f:
    head = f.read(26)
  if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
    raise ImageError(f"{path}: not a PNG file (bad signature)")
  return head[24]


def _read_png16(path: str) -> np.ndarray:
  width, height, rows, info = png.Reader(filename=path).asDirect()
  data = np.vstack([np.asarray(row, np.uint16) for row in rows])
  if data.size != width * height * info["planes"]:
    raise ImageError(f"{path}: truncated 16-bit PNG ({data.size} of "
                     f"{width * height * info['planes']} samples)")
  return data.reshape(height, width, info["planes"])


def read_image(path: str | os.PathLike) -> np.ndarray:
  """Upright pixels as stored: uint8/uint16, [H, W] gray or [H, W, 2|3|4]."""
  path = os.fspath(path)
  if not is_image(path):
    raise ImageError(f"{path}: not a supported image type (expected one of "
                     f"{', '.join(IMAGE_SUFFIXES)})")
  width, height, frames, mode, orientation = _header(path)
  if width * height > MAX_PIXELS:
    raise ImageError(f"{path}: {width}x{height} is {width * height} pixels; expected at "
                     f"most {MAX_PIXELS} (PIL.Image.MAX_IMAGE_PIXELS x 2)")
  if frames > 1:
    raise ImageError(f"{path}: {frames} frames (animated or multi-page); expected one "
                     "still image")
  try:
    if path.lower().endswith(".png") and _png_bit_depth(path) == 16:
      array = _read_png16(path)
    elif mode in _CONVERT_TO_RGB:
      with Image.open(path) as im:
        array = np.asarray(im.convert("RGB"))
    else:
      array = np.asarray(iio.imread(path))
  except ImageError:
    raise
  except Exception as e:  # pylint: disable=broad-except  # truncated/corrupt data
    raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if array.dtype == bool:
    array = array.astype(np.uint8) * 255
  elif array.dtype not in (np.uint8, np.uint16):
    if np.issubdtype(array.dtype, np.integer) and array.min() >= 0 and array.max() <= 65535:
      array = array.astype(np.uint16)
    else:
      raise ImageError(f"{path}: unsupported pixel type {array.dtype}; expected 8- or "
                       "16-bit integers")
  if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] > 4) \
      or min(array.shape[:2]) < 1:
    raise ImageError(f"{path}: expected a 2-D image, got pixel array of shape {array.shape}")
  return _orient(array, orientation)


def read_rgb8(path: str | os.PathLike) -> np.ndarray:
  """A file as uint8 RGB [H, W, 3], keeping 16-bit precision until the rounding."""
  path = os.fspath(path)
  return to_uint8_rgb(read_image(path), path)


def scale_short_side(image: np.ndarray, side: int) -> np.ndarray:
  """uint8 RGB resized (Lanczos) so its short side is `side`, aspect kept.

  Dataset builders store photos at one scale so that crops of a given size
  show a comparable amount of scene whatever the source resolution.
  """
  h, w = image.shape[:2]
  scale = side / min(h, w)
  size = (max(side, round(w * scale)), max(side, round(h * scale)))
  return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def package_file(package: str, relative: str) -> pathlib.Path:
  """A file shipped inside an installed Python package (never a download)."""
  module = importlib.import_module(package)
  path = pathlib.Path(module.__file__).parent / relative
  if not path.is_file():
    raise FileNotFoundError(f"{path}: photo missing from the installed {package} wheel")
  return path
