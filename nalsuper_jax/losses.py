"""Training losses (ARCHITECTURE.md section 4): Charbonnier + w_ssim * (1 - SSIM),
plus optional Fourier-amplitude (w_fft), local detail-energy (w_detail) and
global exposure (w_exposure) terms (ours, off by default).

Pure functions of NHWC float images in [0, 1]; each weight is a config field.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np


def charbonnier(pred: jax.Array, target: jax.Array, eps: float = 1e-3) -> jax.Array:
  """A smooth L1: robust to outliers, differentiable at zero."""
  return jnp.mean(jnp.sqrt(jnp.square(pred - target) + eps * eps))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  x = np.arange(size, dtype=np.float64) - (size - 1) / 2
  g = np.exp(-0.5 * np.square(x / sigma))
  return (g / g.sum()).astype(np.float32)


def _band(n: int, window: np.ndarray) -> np.ndarray:
  """[n - k + 1, n] matrix whose rows slide the window: a 'VALID' 1-D filter."""
  k = window.shape[0]
  rows = np.arange(n - k + 1)
  band = np.zeros((n - k + 1, n), np.float32)
  band[rows[:, None], rows[:, None] + np.arange(k)] = window
  return band


def _blur(x: jax.Array, window: np.ndarray) -> jax.Array:
  """Separable 'VALID' Gaussian filter per channel of NHWC images.

  As two matrix products with banded matrices rather than depthwise
  convolutions: XLA's CPU backend runs few-channel depthwise convolutions
  (and their gradients) slowly, and the products cost little at crop sizes.
  """
  _, h, w, _ = x.shape
  x = jnp.einsum("ih,bhwc->biwc", _band(h, window), x)
  return jnp.einsum("jw,biwc->bijc", _band(w, window), x)


def ssim(pred: jax.Array, target: jax.Array, data_range: float = 1.0,
         size: int = 11, sigma: float = 1.5) -> jax.Array:
  """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5), per batch."""
  window = _gaussian_window(size, sigma)
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  pred, target = pred.astype(jnp.float32), target.astype(jnp.float32)
  moments = _blur(jnp.concatenate(
      [pred, target, pred * pred, target * target, pred * target], axis=-1), window)
  mu_x, mu_y, ex2, ey2, exy = jnp.split(moments, 5, axis=-1)
  xx, yy, xy = ex2 - mu_x ** 2, ey2 - mu_y ** 2, exy - mu_x * mu_y
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


# Detail energies below this (an RMS of a quarter 8-bit level, squared) count as
# flat: keeps sqrt's gradient finite where an image has no detail at all.
DETAIL_FLOOR = (1.0 / 1024) ** 2


def _local_detail_energy(x: jax.Array, window: np.ndarray) -> jax.Array:
  """Gaussian-weighted local mean of (x - its Gaussian blur)^2, per channel,
  on the 'VALID' interior (two blurs: 2 (k - 1) pixels less in height and width)."""
  k = window.shape[0]
  crop = (k - 1) // 2
  detail = x[:, crop:x.shape[1] - crop, crop:x.shape[2] - crop] - _blur(x, window)
  return _blur(detail * detail, window)


def detail_energy(pred: jax.Array, target: jax.Array, size: int = 11,
                  sigma: float = 1.5) -> jax.Array:
  """Mean absolute difference of the local RMS of high-frequency detail
  (image minus its Gaussian blur, sigma 1.5 as `metrics.high_frequency_energy`).

  Like `fft_amplitude`, it charges for detail lost without asking for the
  exact texture the noise hid (the pixel losses' optimum blurs it), but
  locally: an image's detail sits in some regions and not others, which one
  global spectrum cannot tell apart. Blind to a texture's phase, so it
  prefers plausible grain to a smooth area where the reference has grain.
  """
  window = _gaussian_window(size, sigma)
  pred, target = pred.astype(jnp.float32), target.astype(jnp.float32)
  rms = lambda x: jnp.sqrt(_local_detail_energy(x, window) + DETAIL_FLOOR)
  return jnp.mean(jnp.abs(rms(pred) - rms(target)))


def exposure(pred: jax.Array, target: jax.Array) -> jax.Array:
  """Mean absolute difference of each image's per-channel means: its global
  exposure (and colour balance).

  The pixel losses count a brightness offset like any other error, spread
  over every pixel; on unseen scenes it is the largest error the demo makes
  (BENCHMARKS.md, "What the seeds share"). Weighting it on its own asks the
  network to get the brightness a prompt names right before the details.
  """
  means = lambda x: jnp.mean(x.astype(jnp.float32), axis=(1, 2))
  return jnp.mean(jnp.abs(means(pred) - means(target)))


def default_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      charbonnier_eps=1e-3,  # Charbonnier epsilon
      w_ssim=0.2,            # weight of (1 - SSIM)
      w_fft=0.0,             # weight of the Fourier-amplitude term (0: the paper's loss)
      w_detail=0.0,          # weight of the local detail-energy term (0: the paper's loss)
      w_exposure=0.0,        # weight of the global exposure term (0: the paper's loss)
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
  if config.w_detail:
    terms["detail"] = detail_energy(pred, target)
    total = total + config.w_detail * terms["detail"]
  if config.w_exposure:
    terms["exposure"] = exposure(pred, target)
    total = total + config.w_exposure * terms["exposure"]
  terms["total"] = total
  return terms
