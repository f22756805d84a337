"""Overlapping tiles and seam-free blending for images bigger than memory allows.

Pure NumPy functions. A tile's output is weighted by a raised-cosine ramp
over the `overlap` pixels on each side that has a neighbour (and 1 inside),
and the weighted outputs are divided by the summed weights, so every pixel is
a convex combination whose weights vary smoothly: no step where tiles meet.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np


def check_options(tile: int, overlap: int, multiple: int, granule: int | None = None) -> None:
  """The one rule for tiling options (Enhancer and nalsuper-enhance alike).

  Tiles are multiples of the network's multiple; the overlap is under half a
  tile, so each pixel is blended from at most two tiles per axis and every
  tile keeps an interior that no neighbour overlaps. Raises ValueError
  naming the option.
  """
  if tile <= 0 or tile % multiple:
    raise ValueError(f"tile={tile}: expected a positive multiple of {multiple} "
                     "(the network's size multiple)")
  if not 0 <= overlap < tile // 2:
    raise ValueError(f"overlap={overlap}: expected 0 <= overlap < tile/2 = {tile // 2}")
  if granule is not None and (granule <= 0 or granule % multiple):
    raise ValueError(f"granule={granule}: expected a positive multiple of {multiple} "
                     "(the network's size multiple)")


def starts(length: int, tile: int, overlap: int) -> list[int]:
  """Tile origins along one axis covering [0, length); the last is flush with the end."""
  if length <= tile:
    return [0]
  if not 0 <= overlap < tile:
    raise ValueError(f"overlap={overlap} must be in [0, tile={tile})")
  stride = tile - overlap
  count = math.ceil((length - overlap) / stride)
  return sorted({min(i * stride, length - tile) for i in range(count)})


def bucket(length: int, granule: int) -> int:
  """`length` rounded up to a multiple of `granule`: the padded side the
  network is compiled for, so photos of nearby sizes share one program."""
  return -(-length // granule) * granule


def tile_side(length: int, tile: int, overlap: int, granule: int) -> int:
  """The shortest side (a multiple of `granule`, at most `tile`) that covers
  `length` with as few tiles as `tile` itself would need.

  Tiles of the maximum size waste work: a 1080-pixel side cut into
  1024-pixel tiles computes 2 x 1024 rows for 1080. With two tiles of 576
  (a multiple of 16 covering 1080 + one overlap) the waste is a few percent.
  """
  if length <= tile:
    return length
  count = math.ceil((length - overlap) / (tile - overlap))
  side = bucket(math.ceil((length + (count - 1) * overlap) / count), granule)
  return min(side, tile)


def ramp(size: int, overlap: int, rise: bool, fall: bool) -> np.ndarray:
  """1-D weights: raised cosine over `overlap` at the rising/falling ends."""
  w = np.ones(size, np.float32)
  n = min(overlap, size)
  if n:
    edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float32) + 0.5) / n)
    if rise:
      w[:n] = np.minimum(w[:n], edge)
    if fall:
      w[size - n:] = np.minimum(w[size - n:], edge[::-1])
  return w


def tiles(height: int, width: int, tile: tuple[int, int],
          overlap: int) -> Iterator[tuple[int, int, np.ndarray]]:
  """(top, left, weight [th, tw]) for every `tile`-sized tile of a `height` x `width` image."""
  th, tw = min(tile[0], height), min(tile[1], width)
  rows, cols = starts(height, th, overlap), starts(width, tw, overlap)
  for i, top in enumerate(rows):
    wy = ramp(th, overlap, rise=i > 0, fall=i < len(rows) - 1)
    for j, left in enumerate(cols):
      wx = ramp(tw, overlap, rise=j > 0, fall=j < len(cols) - 1)
      yield top, left, wy[:, None] * wx[None, :]


class Blender:
  """Accumulates weighted tile outputs; `result()` normalises."""

  def __init__(self, height: int, width: int, channels: int):
    self.total = np.zeros((height, width, channels), np.float32)
    self.weight = np.zeros((height, width, 1), np.float32)

  def add(self, top: int, left: int, weight: np.ndarray, output: np.ndarray) -> None:
    h, w = weight.shape
    self.total[top:top + h, left:left + w] += output * weight[..., None]
    self.weight[top:top + h, left:left + w, 0] += weight

  def result(self) -> np.ndarray:
    if np.any(self.weight <= 0):
      raise ValueError("tiles do not cover the image")
    return self.total / self.weight
