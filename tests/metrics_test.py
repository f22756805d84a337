"""The photo metrics beyond PSNR, against independent computations."""

import colorsys

import numpy as np

from nalsuper_jax import metrics


def test_mean_saturation_matches_colorsys_in_both_pixel_formats():
  rgb8 = np.random.default_rng(0).integers(0, 256, (9, 11, 3)).astype(np.uint8)
  rgb8[0, 0] = 0                                              # black: saturation 0
  expected = np.mean([colorsys.rgb_to_hsv(*(p / 255.0))[1] for p in rgb8.reshape(-1, 3)])
  np.testing.assert_allclose(metrics.mean_saturation(rgb8), expected, rtol=1e-12)
  np.testing.assert_allclose(metrics.mean_saturation(rgb8 / 255.0), expected, rtol=1e-12)


def test_high_frequency_energy_of_flat_smooth_and_white_noise_images():
  assert metrics.high_frequency_energy(np.full((40, 40, 3), 0.3)) < 1e-20
  y, x = np.mgrid[0:96, 0:96]
  smooth = 0.5 + 0.4 * np.sin(2 * np.pi * (x + y) / 96.0)[..., None].repeat(3, -1)
  assert metrics.high_frequency_energy(smooth) < 1e-3 * smooth.var()  # 1000x below noise's
  # White noise of variance s^2 keeps s^2 * sum((delta - k)^2) = s^2 (1 - 2 k0 + sum k^2)
  # after subtracting a normalised 2-D Gaussian k; k0 and sum k^2 computed on the kernel.
  sigma = metrics.DETAIL_SIGMA
  taps = np.arange(-6, 7)
  g = np.exp(-taps ** 2 / (2 * sigma ** 2))
  kernel = np.outer(g, g) / np.outer(g, g).sum()
  expected_factor = 1 - 2 * kernel[6, 6] + (kernel ** 2).sum()
  noise = np.random.default_rng(1).normal(0.5, 0.05, (256, 256, 3))
  np.testing.assert_allclose(metrics.high_frequency_energy(noise),
                             expected_factor * noise.var(), rtol=0.03)
