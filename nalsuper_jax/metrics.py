"""Evaluation metrics on 8-bit-rounded RGB, and their GT-mean variants.

PSNR/SSIM are computed on outputs rounded to 8 bits, as published images
are; `psnr_float` is on the unrounded float output, as Retinexformer computes
it. SSIM follows Wang et al. (2004): Gaussian window sigma 1.5, population
covariances, per channel then averaged (scikit-image's implementation). GT-mean
rescales the output so its mean matches the target's -- the protocol many
low-light papers report to factor out global brightness.
"""

from __future__ import annotations

import numpy as np


def to_uint8(image: np.ndarray) -> np.ndarray:
  return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def psnr(pred: np.ndarray, target: np.ndarray, data_range: float = 255.0) -> float:
  mse = np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10 * np.log10(data_range ** 2 / mse))


def ssim(pred8: np.ndarray, target8: np.ndarray) -> float:
  # scikit-image takes ~1 s to import; only evaluation computes SSIM on the host.
  from skimage.metrics import structural_similarity  # pylint: disable=import-outside-toplevel
  return float(structural_similarity(pred8, target8, channel_axis=-1, data_range=255,
                                     gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False))


def gt_mean(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Scales a float prediction so its mean intensity equals the target's."""
  return pred * (target.mean() / max(float(pred.mean()), 1e-6))


def image_metrics(pred: np.ndarray, target8: np.ndarray) -> dict[str, float]:
  """pred: float HxWx3 (any range); target8: uint8 HxWx3."""
  target = target8.astype(np.float32) / 255.0
  pred8 = to_uint8(pred)
  matched8 = to_uint8(gt_mean(np.clip(pred, 0, 1), target))
  return {"psnr": psnr(pred8, target8), "ssim": ssim(pred8, target8),
          "psnr_float": psnr(np.clip(pred, 0, 1), target, 1.0),
          "psnr_gt_mean": psnr(matched8, target8), "ssim_gt_mean": ssim(matched8, target8)}


# -- what a photo user sees beyond PSNR (issue #14: washed-out colour, left-over noise) --
DETAIL_SIGMA = 1.5  # "high frequencies": what a Gaussian blur of this sigma (pixels) removes


def mean_saturation(image: np.ndarray) -> float:
  """Mean HSV saturation of an RGB image (float [0, 1] or uint8): (max - min) / max."""
  rgb = np.asarray(image, np.float64) / (255.0 if np.asarray(image).dtype == np.uint8 else 1.0)
  top, bottom = rgb.max(-1), rgb.min(-1)
  return float(np.mean(np.where(top > 0, (top - bottom) / np.maximum(top, 1e-12), 0.0)))


def high_frequency_energy(image: np.ndarray, sigma: float = DETAIL_SIGMA) -> float:
  """Mean squared difference between an image (in [0, 1] units) and its Gaussian
  blur: fine detail plus noise. Over a reference's value, > 1 means noise was
  left (or added), < 1 means detail was smoothed away."""
  from scipy import ndimage  # pylint: disable=import-outside-toplevel  # only this bench needs it
  x = np.asarray(image, np.float64) / (255.0 if np.asarray(image).dtype == np.uint8 else 1.0)
  return float(np.mean((x - ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0))) ** 2))
