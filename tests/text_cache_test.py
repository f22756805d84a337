"""The frozen text tower's feature cache (text/cache.py) and the train step that uses it."""

import jax
import numpy as np
import pytest

from configs import tiny
from nalsuper_jax import checkpoints, config_check, sharding, train
from nalsuper_jax.models import cost
from nalsuper_jax.text import FeatureCache, check_cache_captions
from tests import runs
from tests.numerics import assert_close

CAPTIONS = ["a dark photo", "a bright photo, warm white balance", "a cat on a mat"]


def test_cached_features_equal_the_tower_and_reuse_and_evict(minilm):
  cache = FeatureCache(minilm, max_captions=2)
  ids, mask = minilm.tokenizer(CAPTIONS[:2] + CAPTIONS[:1])
  got = cache.encode(ids, mask)
  # On the device, not read back: reading would wait for the train step before.
  assert all(isinstance(x, jax.Array) for x in got)
  placed = sharding.global_batch(dict(got._asdict()), sharding.batch_sharding(
      sharding.make_mesh(tiny.get_config().mesh)))
  want = minilm.encode(CAPTIONS[:2] + CAPTIONS[:1])
  for name, a in zip(got._fields, got):
    np.testing.assert_array_equal(placed[name], a, err_msg=name)
  for name, a, b in zip(got._fields, got, want):
    assert_close(a, b, rel=1e-5, err_msg=name)
  assert (cache.misses, cache.hits, len(cache)) == (2, 1, 2)
  # A third caption evicts the least recently used one (the bright photo: the
  # dark one was just reused), which then has to be encoded again.
  cache.encode(*minilm.tokenizer(CAPTIONS[2:]))
  cache.encode(*minilm.tokenizer(CAPTIONS[:1]))
  assert (cache.misses, cache.hits, len(cache)) == (3, 2, 2)
  cache.encode(*minilm.tokenizer(CAPTIONS[1:2]))
  assert (cache.misses, cache.hits) == (4, 2)


def test_a_captions_features_do_not_depend_on_its_batch(minilm):
  """Bit for bit: a resumed run starts with an empty cache and must see the
  features the uninterrupted run saw, whatever else was new in the batch."""
  alone = FeatureCache(minilm, 8).encode(*minilm.tokenizer(CAPTIONS[2:]))
  together = FeatureCache(minilm, 8).encode(*minilm.tokenizer(CAPTIONS))
  for a, b in zip(alone, together):
    np.testing.assert_array_equal(a[0], b[2])


def test_cache_size_is_validated_where_configs_are():
  config = tiny.get_config()
  config.text.cache_captions = -1   # (ml_collections itself refuses a float here)
  with pytest.raises(config_check.ConfigError, match=r"config\.text\.cache_captions=-1"):
    config_check.validate(config)
  for bad in (1.5, True, "8"):     # the same rule, from Python
    with pytest.raises(ValueError, match="cache_captions"):
      check_cache_captions(bad)
  config = tiny.get_config()
  config.text.trainable = True  # a trained tower is never cached
  assert train.make_feature_cache(config, object()) is None


def _step_flops(config, cached: bool) -> float:
  model = checkpoints.build_model(config)
  text = checkpoints.build_text(config, model)
  tx, schedule = train.make_optimizer(config.train)
  mesh = sharding.make_mesh(config.mesh)
  layout = checkpoints.train_state_layout(config, model, text, tx, mesh)
  step = train.make_train_step(config, model, text, tx, schedule, mesh, layout.shardings)
  b, c = config.data.batch_size, config.data.crop
  ids, mask = text.tokenizer(CAPTIONS[:1] * b)
  host = {"low": np.zeros((b, c, c, 3), np.uint8), "high": np.zeros((b, c, c, 3), np.uint8),
          "ids": ids, "mask": mask}
  if cached:
    host = train.make_feature_cache(config, text).replace_tokens(host)
  batch = sharding.global_batch(host, sharding.batch_sharding(mesh))
  return cost.lowered_flops(step.lower(layout.abstract, batch, text.params))


@pytest.mark.slow  # traces and lowers two train steps (~17 s)
def test_the_cached_step_does_not_run_the_tower():
  config = tiny.get_config()
  in_step, cached = _step_flops(config, False), _step_flops(config, True)
  # MiniLM costs ~22 MFLOP per token: 4 captions x 16 tokens ~ 1.4 GFLOP.
  assert in_step - cached > 1e9, (in_step, cached)


@pytest.mark.slow
def test_training_with_and_without_the_cache_gives_the_same_losses(data_dir, trained_run,
                                                                   tmp_path):
  """`trained_run` trained with the cache (the default); the same run with the
  tower inside the step (`cache_captions=0`) gives the same losses."""
  config = runs.trained_config(data_dir)
  assert config.text.cache_captions > 0
  config.text.cache_captions = 0
  config.train.checkpoint_every = config.train.steps  # one save
  train.run(config, tmp_path)
  cached, uncached = (runs.loss_curve(workdir, config.train.steps)
                      for workdir in (trained_run, tmp_path))
  # The same sums in other orders (the tower batched inside the step vs one
  # caption at a time outside it), carried through the run's Adam steps.
  assert_close(cached, uncached, rel=1e-4)
