"""Fine-tuning (`config.train.init_from`): the first step's weights come from
the source, or the run is refused before it trains another network."""

import fnmatch
import json

import jax
import numpy as np
import pytest
from flax import traverse_util

from bench import quality
from configs import default, demo_start
from nalsuper_jax import checkpoints, sharding, shipped, train, warm_start
from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.data import images
from tests import runs
from tfds_builders.real_photos import real_photos_dataset_builder as real_photos
from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as wheels


def _expected(config):
  model = checkpoints.build_model(config)
  return checkpoints.abstract_params(config, model, checkpoints.build_text(config, model))


def _flat(tree):
  return {"/".join(k): np.asarray(v) for k, v in traverse_util.flatten_dict(tree).items()}


def _l1(a, b):
  return sum(float(np.abs(a[k] - b[k]).sum()) for k in a)


def _starts_from(config, name: str, folder) -> dict:
  """The demo config's first weights under `init_from=name`: exactly the
  image weights of the model in `folder` (flat), and nothing else."""
  config.train.init_from = name
  params = warm_start.load(config, _expected(config))
  _, _, _, image, _, _ = shipped.load(folder)
  got, want = _flat(params["image"]), _flat(image)
  assert sorted(got) == sorted(want) and set(params) == {"image"}
  for key, value in want.items():
    np.testing.assert_array_equal(got[key], value, err_msg=key)
  return got


def test_the_shipped_weights_start_a_run_and_another_network_or_tower_is_refused(tmp_path):
  config = default.get_config()
  _starts_from(config, warm_start.SHIPPED, shipped.SHIPPED_DIR)

  config.model.size = "tiny"
  with pytest.raises(CheckpointError, match=r"model\.safetensors holds another network: \d+ "
                     r"difference.*config\.model\.size: small -> tiny"):
    warm_start.load(config, _expected(config))
  config.model.size = "small"
  config.text.normalize_sentence = False
  with pytest.raises(CheckpointError, match=r"another text tower.*normalize_sentence: True -> "
                     "False"):
    warm_start.load(config, _expected(config))
  config.text.normalize_sentence = True
  config.train.init_from = str(tmp_path)
  with pytest.raises(CheckpointError, match=rf"init_from='{tmp_path}': neither a shipped model"):
    warm_start.load(config, _expected(config))


def test_the_demo_start_starts_the_demo_and_never_saw_its_photos():
  """`make demo` fine-tunes from `demo_start` and scores on its held-out and
  test photos: none of them may be among that pretraining's photos (the
  photo model's training set holds them)."""
  got = _starts_from(default.get_config(), warm_start.DEMO_START, shipped.DEMO_START_DIR)
  assert _l1(got, _flat(shipped.load(shipped.SHIPPED_DIR)[3])) > 0   # not the photo model

  source = checkpoints.read_config(shipped.DEMO_START_DIR)   # what trained it: the config
  recipe = demo_start.get_config()                            # `make demo_start` trains
  recipe.data.data_dir = source.data.data_dir
  assert json.loads(source.to_json()) == json.loads(recipe.to_json())
  excluded = source.data.train_exclude
  demo_eval = [p for p in wheels.photos() if p["split"] == "test" or any(
      fnmatch.fnmatch(f"{p['name']}_00", held) for held in quality.HELD_OUT)]
  assert len(demo_eval) == 5
  for photo in demo_eval:
    seen = not any(fnmatch.fnmatch(photo["name"], pattern) for pattern in excluded)
    if seen:   # real_photos leaves out pictures under its size floor
      pixels = images.read_rgb8(images.package_file(photo["package"], photo["path"]))
      assert min(pixels.shape[:2]) < real_photos.MIN_SIDE, photo["name"]


def _no_second_load(*_):
  raise AssertionError("the text tower was loaded again")


def test_a_tower_the_run_has_loaded_is_not_loaded_again(monkeypatch):
  config = default.get_config()
  config.train.init_from = warm_start.SHIPPED
  model = checkpoints.build_model(config)
  text = checkpoints.build_text(config, model)
  expected = checkpoints.abstract_params(config, model, text)
  want = _flat(warm_start.load(config, expected))
  monkeypatch.setattr(checkpoints, "load_text_encoder", _no_second_load)
  got = _flat(warm_start.load(config, expected, text))
  assert sorted(got) == sorted(want)
  for key, value in want.items():
    np.testing.assert_array_equal(got[key], value, err_msg=key)
  config.text.normalize_sentence = False   # refused from the config alone, no weights read
  monkeypatch.setattr(shipped, "load", _no_second_load)
  with pytest.raises(CheckpointError, match="another text tower"):
    warm_start.load(config, expected, text)


@pytest.mark.slow
def test_a_run_started_from_a_workdir_trains_on_from_its_weights(data_dir, trained_run,
                                                                  tmp_path, monkeypatch):
  _, source = runs.final_params(trained_run)
  config = runs.config(data_dir, steps=1, warmup_steps=0, checkpoint_every=1)
  config.seed = 1   # a fresh init of its own, far from the source's weights
  config.train.init_from = str(trained_run)
  model = checkpoints.build_model(config)
  text = checkpoints.build_text(config, model)
  tx, _ = train.make_optimizer(config.train)
  layout = checkpoints.train_state_layout(config, model, text, tx,
                                          sharding.make_mesh(config.mesh))
  with monkeypatch.context() as patch:
    patch.setattr(checkpoints, "load_text_encoder", _no_second_load)
    state = layout.start_from(warm_start.load(config, layout.abstract.params, text))
  started, fresh = _flat(jax.device_get(state.params)), _flat(
      jax.device_get(layout.initialise().params))
  want = _flat(source)
  assert sorted(started) == sorted(want)
  for key, value in want.items():
    np.testing.assert_array_equal(started[key], value, err_msg=key)
  assert int(state.step) == 0
  assert all(not np.any(np.asarray(leaf)) for leaf in jax.tree.leaves(state.opt_state))

  train.run(config, tmp_path / "run")   # one step on from the source
  _, tuned = runs.final_params(tmp_path / "run")
  tuned = _flat(tuned)
  assert _l1(tuned, want) < 0.1 * _l1(fresh, want)   # ignored init_from: about equal
  assert _l1(tuned, want) > 0                        # and it did train

  # A workdir with a checkpoint resumes from it; init_from is not read again
  # (a source that no longer exists is no error then).
  config.train.update(steps=2, init_from=str(tmp_path / "gone"))
  assert train.run(config, tmp_path / "run").step == 2
