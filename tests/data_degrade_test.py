"""Synthetic low light (section 7): reproducible, darker, noisy, same size."""

import grain
import pytest
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


def _transcribed_default(clean, rng):
  """The default degradation written out step by step (its state before casts and
  JPEG existed): turning those off must draw and compute exactly this."""
  lin = degrade.srgb_to_linear(clean.astype(np.float32) / 255.0)
  high = np.clip(lin * rng.uniform(0.7, 1.4), 0, 1)
  gains = 1.0 + rng.uniform(-0.08, 0.08, size=3)
  dark = high * np.exp(rng.uniform(np.log(0.03), np.log(0.25))) * gains
  photons = np.exp(rng.uniform(np.log(300.0), np.log(3000.0)))
  noisy = rng.poisson(np.clip(dark, 0, None) * photons) / photons
  noisy = noisy + rng.normal(0.0, rng.uniform(5e-4, 3e-3), size=dark.shape)
  q = lambda x: np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)  # noqa: E731
  return q(degrade.linear_to_srgb(noisy)), q(degrade.linear_to_srgb(high))


def test_casts_and_jpeg_off_reproduce_the_plain_model_exactly():
  for seed in range(3):
    got = degrade.degrade(_clean(seed), np.random.default_rng(seed))
    want = _transcribed_default(_clean(seed), np.random.default_rng(seed))
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g, w)


def test_cast_moves_colour_balance_and_keeps_brightness():
  gains = np.array([degrade._cast_gains(np.random.default_rng(s), 0.1) for s in range(200)])
  np.testing.assert_allclose(np.prod(gains, axis=1), 1.0, rtol=1e-12)  # geometric mean 1
  red_over_blue = np.log(gains[:, 0] / gains[:, 2])
  assert red_over_blue.min() < -0.1 and red_over_blue.max() > 0.1   # warm and cool casts
  assert np.abs(np.log(gains)).max() <= 0.1 * (1 + 2 / 3) + 1e-12


def test_jpeg_is_applied_last_with_the_drawn_quality():
  clean = (np.random.default_rng(5).random((64, 80, 3)) * 200 + 40).astype(np.uint8)
  cfg = degrade.DegradeConfig(jpeg_probability=1.0, jpeg_quality=(60.0, 95.0))
  low, high = degrade.degrade(clean, np.random.default_rng(9), cfg)
  replay = np.random.default_rng(9)
  plain_low, plain_high = degrade.degrade(clean, replay, degrade.DegradeConfig())
  replay.uniform()                                   # the JPEG-or-not draw
  quality = round(replay.uniform(60.0, 95.0))
  np.testing.assert_array_equal(high, plain_high)
  np.testing.assert_array_equal(low, degrade.jpeg(plain_low, quality))
  assert not np.array_equal(low, plain_low)


def test_bad_degradation_fields_are_named():
  for field, value in (("jpeg_probability", 1.5), ("cast", -0.1), ("jpeg_quality", (50, 120))):
    with pytest.raises(ValueError, match=f"config.data.degrade.{field}"):
      degrade.DegradeConfig.from_config({field: value})
