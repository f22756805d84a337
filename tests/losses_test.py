"""The training loss against reference implementations."""

import numpy as np
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
