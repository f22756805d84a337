"""Synthetic low light (section 7): reproducible, darker, noisy, same size."""

import grain
import numpy as np

from nalsuper_jax.data import degrade


def _clean(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.random((32, 40, 3)) * 200 + 40).astype(np.uint8)


def test_same_seed_same_pair_and_darker_low():
  a = degrade.degrade(_clean(), np.random.default_rng(7))
  b = degrade.degrade(_clean(), np.random.default_rng(7))
  c = degrade.degrade(_clean(), np.random.default_rng(8))
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a[0], c[0])
  low, high = a
  assert low.shape == high.shape == (32, 40, 3) and low.dtype == np.uint8
  assert low.mean() < 0.75 * high.mean()


def test_noise_is_signal_dependent():
  """Poisson-Gaussian: brighter (linear) regions get larger absolute noise."""
  flat = np.full((64, 64, 3), 255, np.uint8)
  flat[:, :32] = 120
  cfg = degrade.DegradeConfig(target_exposure=(1, 1), darken=(0.2, 0.2), gain_jitter=0,
                              photons=(300, 300), read_noise=(1e-4, 1e-4))
  low, _ = degrade.degrade(flat, np.random.default_rng(0), cfg)
  lin = degrade.srgb_to_linear(low / 255.0)
  assert lin[:, 32:].std() > lin[:, :32].std() > 0


def test_srgb_round_trip():
  x = np.linspace(0, 1, 101)
  np.testing.assert_allclose(degrade.linear_to_srgb(degrade.srgb_to_linear(x)), x, atol=1e-6)


def test_grain_transform_is_deterministic_per_element():
  source = [{"high": _clean(i), "name": str(i)} for i in range(4)]
  ds = grain.MapDataset.source(source).seed(3).random_map(degrade.SyntheticLowLight())
  first, again = [ds[i] for i in range(4)], [ds[i] for i in range(4)]
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a["low"], b["low"])
  assert not np.array_equal(first[0]["low"], first[1]["low"])
  assert all(e["low"].mean() < e["high"].mean() for e in first)
