"""After a few optimizer steps, the caption decides the output's brightness.

A toy task where the input alone is ambiguous: the same dim image must become
dimmer-ish under "a dark photo" and much brighter under "a bright photo".
Only the text can tell the network which, so a gap between the two outputs on
held-out images shows the text path (MiniLM -> FiLM/TCM) is trainable end to end.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import optax

from configs import tiny
from nalsuper_jax import models
from nalsuper_jax.text import TextFeatures

pytestmark = pytest.mark.slow  # trains for a few hundred steps

GAINS = {"a dark photo": 1.2, "a bright photo": 3.5}


def _images(seed, n, size=16):
  rng = np.random.default_rng(seed)
  base = rng.uniform(0.03, 0.2, (n, 1, 1, 3))
  texture = rng.uniform(-0.02, 0.02, (n, size, size, 3))
  return np.clip(base + texture, 0, 1).astype(np.float32)


def test_two_captions_give_different_outputs_after_training(minilm):
  cfg = models.NaLSuperConfig.from_config(tiny.get_config().model)
  model = models.NaLSuper(cfg)
  captions = list(GAINS)
  feats = minilm.encode(captions)
  gains = jnp.asarray([GAINS[c] for c in captions])

  def batch(images):
    """Every image under every caption: [2N, ...] inputs, targets, text."""
    n = len(images)
    low = jnp.concatenate([images, images])
    which = jnp.repeat(jnp.arange(2), n)
    target = jnp.clip(low * gains[which][:, None, None, None], 0, 1)
    text = jax.tree.map(lambda x: x[which], feats)
    return low, target, TextFeatures(*text)

  low, target, text = batch(jnp.asarray(_images(0, 4)))
  params = jax.jit(model.init)(jax.random.key(0), low, text)["params"]
  opt = optax.adam(3e-3)
  opt_state = opt.init(params)

  @jax.jit
  def step(params, opt_state, low, target, text):
    loss, grads = jax.value_and_grad(
        lambda p: jnp.mean(jnp.abs(model.apply({"params": p}, low, text) - target)))(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  for i in range(80):
    low, target, text = batch(jnp.asarray(_images(100 + i, 4)))
    params, opt_state, loss = step(params, opt_state, low, target, text)
  low, target, text = batch(jnp.asarray(_images(999, 4)))  # held out
  apply = jax.jit(model.apply, static_argnames="clip_output")
  out = np.asarray(apply({"params": params}, low, text, clip_output=True))
  dark, bright = out[:4].mean(axis=(1, 2, 3)), out[4:].mean(axis=(1, 2, 3))
  want = np.asarray(target[4:].mean(axis=(1, 2, 3)) - target[:4].mean(axis=(1, 2, 3)))
  # Each held-out image is brighter under the bright caption, by at least half the true gap.
  assert (bright - dark > 0.5 * want).all(), (bright - dark, want, float(loss))
