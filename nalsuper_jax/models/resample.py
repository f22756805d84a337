"""Integer-factor resampling of NHWC feature maps.

`jax.image.resize` builds dense interpolation matrices, which XLA counts (and
runs) as matmuls: ~0.8 GFLOPs to double a 128x128x32 map. The levels of this
network differ by powers of two, so fixed stencils do: bilinear upsampling
with half-pixel centres and edge clamping (equal to `jax.image.resize(...,
"linear")` for integer factors) and average pooling for downsampling.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _upsample_axis(x: jax.Array, factor: int, axis: int) -> jax.Array:
  n = x.shape[axis]
  prev = jnp.concatenate([jax.lax.slice_in_dim(x, 0, 1, axis=axis),
                          jax.lax.slice_in_dim(x, 0, n - 1, axis=axis)], axis=axis)
  nxt = jnp.concatenate([jax.lax.slice_in_dim(x, 1, n, axis=axis),
                         jax.lax.slice_in_dim(x, n - 1, n, axis=axis)], axis=axis)
  phases = []
  for k in range(factor):
    t = (k + 0.5) / factor - 0.5  # source offset of output phase k, in (-0.5, 0.5)
    phases.append((1 - abs(t)) * x + abs(t) * (prev if t < 0 else nxt))
  out = jnp.stack(phases, axis=axis + 1)
  shape = list(x.shape)
  shape[axis] *= factor
  return out.reshape(shape)


def upsample_bilinear(x: jax.Array, factor: int) -> jax.Array:
  """[B, H, W, C] -> [B, H * f, W * f, C], bilinear."""
  if factor == 1:
    return x
  return _upsample_axis(_upsample_axis(x, factor, 1), factor, 2)


def upsample_nearest(x: jax.Array, factor: int) -> jax.Array:
  if factor == 1:
    return x
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def downsample_average(x: jax.Array, factor: int) -> jax.Array:
  """Mean over factor x factor blocks (area resampling)."""
  if factor == 1:
    return x
  b, h, w, c = x.shape
  if h % factor or w % factor:
    raise ValueError(f"feature map {h}x{w} is not divisible by {factor}")
  return x.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def rescale(x: jax.Array, height: int, width: int) -> jax.Array:
  """Resizes by the power-of-two factor between levels (either direction)."""
  h, w = x.shape[1:3]
  if (h, w) == (height, width):
    return x
  if height > h:
    f = height // h
    if f * h != height or f * w != width:
      raise ValueError(f"cannot upsample {h}x{w} to {height}x{width} by an integer factor")
    return upsample_bilinear(x, f)
  f = h // height
  if f * height != h or f * width != w:
    raise ValueError(f"cannot downsample {h}x{w} to {height}x{width} by an integer factor")
  return downsample_average(x, f)
