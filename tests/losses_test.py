"""The training loss against reference implementations."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.metrics import structural_similarity

from nalsuper_jax import losses
from tests.numerics import assert_close


def test_training_ssim_matches_scikit_image():
  """Reference: scikit-image's structural_similarity with Wang et al.'s settings
  (Gaussian window sigma 1.5 -> 11x11, population covariances); it averages the
  'valid' interior, which is what our separable VALID blur computes."""
  rng = np.random.default_rng(0)
  target = rng.uniform(0, 1, (2, 40, 36, 3)).astype(np.float32)
  pred = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1).astype(np.float32)
  reference = np.mean([structural_similarity(p, t, data_range=1.0, channel_axis=-1,
                                             gaussian_weights=True, sigma=1.5,
                                             use_sample_covariance=False)
                       for p, t in zip(pred, target)])
  ours = float(losses.ssim(pred, target))
  assert 0.3 < reference < 0.95  # a partial match, where a wrong window would show
  assert_close(np.float32(ours), np.float32(reference), rel=1e-4)
  assert_close(np.float32(losses.ssim(target, target)), np.float32(1.0), rel=1e-6)


def test_fourier_amplitude_term_against_numpy_and_its_phase_blindness():
  """Reference: NumPy's orthonormal rfft2 per image and channel. The term is
  blind to phase (a circular shift costs nothing) and charges for lost detail
  (a blurred copy costs more than the original)."""
  rng = np.random.default_rng(1)
  target = rng.uniform(0, 1, (2, 24, 20, 3)).astype(np.float32)
  pred = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1).astype(np.float32)
  amp = lambda x: np.abs(np.fft.rfft2(x.astype(np.float64), axes=(1, 2), norm="ortho"))
  reference = np.mean(np.abs(amp(pred) - amp(target)))
  assert_close(np.float32(losses.fft_amplitude(pred, target)), np.float32(reference), rel=1e-4)
  shifted = np.roll(target, (5, 3), axis=(1, 2))
  assert float(losses.fft_amplitude(shifted, target)) < 1e-5 * reference
  blurred = (target + np.roll(target, 1, 1) + np.roll(target, 1, 2) + np.roll(target, (1, 1), (1, 2))) / 4
  assert float(losses.fft_amplitude(blurred, target)) > 0.5 * reference


@pytest.mark.parametrize("weight,term,function", [("w_fft", "fft", losses.fft_amplitude),
                                                  ("w_detail", "detail", losses.detail_energy),
                                                  ("w_exposure", "exposure", losses.exposure)])
def test_loss_terms_add_an_optional_term_only_when_weighted(weight, term, function):
  rng = np.random.default_rng(2)
  target = rng.uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
  pred = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1).astype(np.float32)
  config = losses.default_config()
  plain = losses.loss_terms(pred, target, config)
  assert term not in plain
  config[weight] = 0.5
  terms = losses.loss_terms(pred, target, config)
  assert_close(np.float32(terms["total"]),
               np.float32(plain["total"] + 0.5 * function(pred, target)), rel=1e-6)


def test_exposure_charges_for_a_brightness_offset_not_for_texture():
  """Reference: NumPy per-image, per-channel means in float64. A uniform
  offset costs its size; moving pixels around (a flip, a shuffled texture
  with the same means) costs nothing, where Charbonnier charges for it."""
  rng = np.random.default_rng(4)
  target = rng.uniform(0.2, 0.8, (2, 24, 20, 3)).astype(np.float32)
  pred = np.clip(target * rng.uniform(0.6, 1.2, (2, 1, 1, 3)), 0, 1).astype(np.float32)
  means = lambda x: x.astype(np.float64).mean(axis=(1, 2))
  assert_close(np.float32(losses.exposure(pred, target)),
               np.float32(np.abs(means(pred) - means(target)).mean()), rel=1e-5)
  assert_close(np.float32(losses.exposure(target + 0.05, target)), np.float32(0.05), rel=1e-4)
  shuffled = rng.permuted(target.reshape(2, -1, 3), axis=1).reshape(target.shape)
  assert float(losses.exposure(shuffled, target)) < 1e-6
  assert float(losses.exposure(target[:, ::-1], target)) < 1e-6
  assert float(losses.charbonnier(shuffled, target)) > 0.1


def _reference_detail_energy(pred, target):
  """Reference: SciPy's gaussian_filter (sigma 1.5, radius 5: the same 11
  taps), borders cropped to the 'valid' interior, in float64."""
  blur = lambda x: ndimage.gaussian_filter(x, (0, 1.5, 1.5, 0), truncate=5 / 1.5)
  valid = lambda x: x[:, 5:-5, 5:-5]
  def rms(x):
    x = x.astype(np.float64)
    detail = valid(x - blur(x))
    return np.sqrt(valid(blur(detail ** 2)) + losses.DETAIL_FLOOR)
  return np.mean(np.abs(rms(pred) - rms(target)))


def test_detail_energy_against_scipy_and_what_it_charges_for():
  """Matches the SciPy reference; zero for the target itself; a blurred copy
  costs more than an unrelated texture of the same statistics (phase-blind),
  and so does a noisy copy (noise is detail the target lacks)."""
  rng = np.random.default_rng(3)
  target = rng.uniform(0, 1, (2, 40, 36, 3)).astype(np.float32)
  blurred = ndimage.gaussian_filter(target, (0, 1.0, 1.0, 0)).astype(np.float32)
  assert_close(np.float32(losses.detail_energy(blurred, target)),
               np.float32(_reference_detail_energy(blurred, target)), rel=1e-4)
  assert float(losses.detail_energy(target, target)) == 0.0
  other = rng.uniform(0, 1, target.shape).astype(np.float32)
  smooth = np.full_like(target, 0.5)
  noisy = target + rng.normal(0, 0.3, target.shape).astype(np.float32)
  assert float(losses.detail_energy(other, target)) < 0.2 * float(losses.detail_energy(blurred, target))
  assert float(losses.detail_energy(blurred, target)) < float(losses.detail_energy(smooth, target))
  assert float(losses.detail_energy(noisy, target)) > 0.3 * float(losses.detail_energy(smooth, target))

