"""Training losses (ARCHITECTURE.md section 4): Charbonnier + w_ssim * (1 - SSIM),
plus an optional Fourier-amplitude term (w_fft; ours, off by default).

Pure functions of NHWC float images in [0, 1]; each weight is a config field.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections


def charbonnier(pred: jax.Array, target: jax.Array, eps: float = 1e-3) -> jax.Array:
  """A smooth L1: robust to outliers, differentiable at zero."""
  return jnp.mean(jnp.sqrt(jnp.square(pred - target) + eps * eps))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> jax.Array:
  x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  g = jnp.exp(-0.5 * jnp.square(x / sigma))
  return g / g.sum()


def _blur(x: jax.Array, window: jax.Array) -> jax.Array:
  """Separable 'VALID' Gaussian filter per channel of NHWC images."""
  c = x.shape[-1]
  k = window.shape[0]
  kh = jnp.tile(window.reshape(k, 1, 1, 1), (1, 1, 1, c))
  kw = jnp.tile(window.reshape(1, k, 1, 1), (1, 1, 1, c))
  dn = ("NHWC", "HWIO", "NHWC")
  x = jax.lax.conv_general_dilated(x, kh, (1, 1), "VALID", dimension_numbers=dn,
                                   feature_group_count=c)
  return jax.lax.conv_general_dilated(x, kw, (1, 1), "VALID", dimension_numbers=dn,
                                      feature_group_count=c)


def ssim(pred: jax.Array, target: jax.Array, data_range: float = 1.0,
         size: int = 11, sigma: float = 1.5) -> jax.Array:
  """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5), per batch."""
  window = _gaussian_window(size, sigma)
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  pred, target = pred.astype(jnp.float32), target.astype(jnp.float32)
  mu_x, mu_y = _blur(pred, window), _blur(target, window)
  xx = _blur(pred * pred, window) - mu_x ** 2
  yy = _blur(target * target, window) - mu_y ** 2
  xy = _blur(pred * target, window) - mu_x * mu_y
  s = ((2 * mu_x * mu_y + c1) * (2 * xy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (xx + yy + c2))
  return jnp.mean(s)


def fft_amplitude(pred: jax.Array, target: jax.Array) -> jax.Array:
  """Mean absolute difference of the images' 2-D Fourier amplitude spectra
  (per image and channel, orthonormal transform).

  Charbonnier and SSIM are lowest for the conditional median, which blurs
  whatever the noise hides; the amplitude spectrum ignores phase, so this term
  charges for lost high-frequency energy without asking for the exact texture
  (the idea of the focal frequency loss, Jiang et al. 2021, and of MIMO-UNet's
  frequency loss, Cho et al. 2021).
  """
  def amplitude(x):
    return jnp.abs(jnp.fft.rfft2(x.astype(jnp.float32), axes=(1, 2), norm="ortho"))
  return jnp.mean(jnp.abs(amplitude(pred) - amplitude(target)))


def default_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      charbonnier_eps=1e-3,  # Charbonnier epsilon
      w_ssim=0.2,            # weight of (1 - SSIM)
      w_fft=0.0,             # weight of the Fourier-amplitude term (0: the paper's loss)
  ))


def loss_terms(pred: jax.Array, target: jax.Array,
               config: ml_collections.ConfigDict) -> dict[str, jax.Array]:
  """Every term and their weighted sum under "total"."""
  terms = {"charbonnier": charbonnier(pred, target, config.charbonnier_eps)}
  total = terms["charbonnier"]
  if config.w_ssim:
    terms["ssim"] = ssim(pred, target)
    total = total + config.w_ssim * (1.0 - terms["ssim"])
  if config.w_fft:
    terms["fft"] = fft_amplitude(pred, target)
    total = total + config.w_fft * terms["fft"]
  terms["total"] = total
  return terms
