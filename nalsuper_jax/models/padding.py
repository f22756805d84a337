"""Reflect-padding to the network's multiple, and cropping back."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def pad_to_multiple(images, multiple: int):
  """Reflect-pads NHWC images at the bottom/right; returns (padded, (H, W)).

  Reflection (not zeros) keeps the border statistics the network saw in
  training. Works on NumPy and JAX arrays alike.
  """
  h, w = images.shape[1:3]
  ph, pw = -h % multiple, -w % multiple
  if ph == 0 and pw == 0:
    return images, (h, w)
  if ph >= h or pw >= w:  # reflection needs more rows than padding
    mode = "symmetric"
  else:
    mode = "reflect"
  xp = jnp if not isinstance(images, np.ndarray) else np
  return xp.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode), (h, w)


def crop_to(images, size: tuple[int, int]):
  """Undoes `pad_to_multiple`."""
  return images[:, : size[0], : size[1]]
