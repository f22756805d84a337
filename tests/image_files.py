"""Writing test images in the formats datasets arrive in."""

import io
import pathlib
import struct
import zlib

import imageio.v3 as iio
import numpy as np
from PIL import Image


def write_png16_rgb(path, image: np.ndarray) -> None:
  """A 48-bit RGB PNG (Pillow cannot write these), by the PNG spec."""
  h, w, _ = image.shape
  raw = b"".join(b"\x00" + image[y].astype(">u2").tobytes() for y in range(h))

  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
  png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
         + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
  pathlib.Path(path).write_bytes(png)


def write(path, image: np.ndarray, mode: str = "rgb") -> pathlib.Path:
  """Writes uint8 RGB `image` as: rgb | gray | rgba | png16 | gray16 | tif16."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if mode == "rgb":
    iio.imwrite(path, image)
  elif mode == "gray":
    iio.imwrite(path, image.mean(-1).round().astype(np.uint8))
  elif mode == "rgba":
    iio.imwrite(path, np.concatenate([image, np.full(image.shape[:2] + (1,), 200, np.uint8)], -1))
  elif mode == "png16":
    write_png16_rgb(path, image.astype(np.uint16) * 257)
  elif mode == "gray16":
    iio.imwrite(path, image.mean(-1).round().astype(np.uint16) * 257)
  elif mode == "tif16":
    iio.imwrite(path, image.astype(np.uint16) * 257)
  else:
    raise ValueError(mode)
  return path


def webp_bytes(image: np.ndarray) -> bytes:
  """A lossless WebP file's bytes, as resource bundles store their pictures."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="WEBP", lossless=True)
  return buffer.getvalue()
