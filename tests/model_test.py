"""The image network: shapes, masking, gating, gradients, dtypes and cost."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import tiny
from nalsuper_jax import layers, models
from nalsuper_jax.models import cost, ifa, resample
from nalsuper_jax.models.cost import dummy_text
from nalsuper_jax.text import TextFeatures
from tests.numerics import assert_close


def _tiny(**overrides):
  cfg = tiny.get_config().model
  cfg.update(overrides)
  return models.NaLSuperConfig.from_config(cfg)


class _Jitted:
  """A model whose `apply` is jitted: op-by-op dispatch makes eager tests slow."""

  def __init__(self, cfg):
    self.module = models.NaLSuper(cfg)
    self.apply = jax.jit(self.module.apply)


@functools.cache
def _params(cfg, word_dim, sentence_dim):
  """Parameters depend on widths only, not on image size: init once per config
  (compiling init costs ~10 s on 2 cores, mostly random-number generation)."""
  low = jnp.zeros((1, cfg.multiple, cfg.multiple, 3))
  text = dummy_text(1, 2, word_dim, sentence_dim)
  init = jax.jit(models.NaLSuper(cfg).init)
  return nn.meta.unbox(init(jax.random.key(0), low, text)["params"])


def _init(cfg, h=16, w=16, batch=2, text=None):
  model = _Jitted(cfg)
  low = jax.random.uniform(jax.random.key(1), (batch, h, w, 3)) * 0.2
  text = text if text is not None else _random_text(batch)
  params = _params(cfg, text.words.shape[-1], text.sentence.shape[-1])
  return model, params, low, text


def _random_text(batch, length=6, dim=12, valid=(6, 3), seed=2):
  k1, k2 = jax.random.split(jax.random.key(seed))
  mask = np.zeros((batch, length), bool)
  for b in range(batch):
    mask[b, : valid[b % len(valid)]] = True
  return TextFeatures(jax.random.normal(k1, (batch, length, dim)), jnp.asarray(mask),
                      jax.random.normal(k2, (batch, dim)))


def _open_gates(params, seed=3):
  """Random FiLM weights and gates, so text paths are live (init has them at 0)."""
  keys = iter(jax.random.split(jax.random.key(seed), 1000))

  def fill(path, x):
    name = jax.tree_util.keystr(path)
    if "gate" in name or "film" in name:
      return 0.5 * jax.random.normal(next(keys), x.shape)
    return x
  return jax.tree_util.tree_map_with_path(fill, params)


@pytest.mark.parametrize("batch,h,w", [(1, 16, 16), (2, 24, 40), (1, 32, 12)])
def test_output_has_input_shape(batch, h, w):
  model, params, low, text = _init(_tiny(), h, w, batch)
  out = model.apply({"params": params}, low, text)
  assert out.shape == low.shape and out.dtype == jnp.float32
  assert np.isfinite(np.asarray(out)).all()


def test_non_multiple_size_is_a_clear_error():
  cfg = _tiny()
  model, params, _, text = _init(cfg)
  with pytest.raises(ValueError, match=r"18x16 is not a multiple of 4.*pad"):
    model.apply({"params": params}, jnp.zeros((2, 18, 16, 3)), text)
  with pytest.raises(ValueError, match="RGB"):
    model.apply({"params": params}, jnp.zeros((2, 16, 16, 1)), text)


def test_pad_to_multiple_round_trip():
  x = np.random.default_rng(0).random((2, 17, 30, 3)).astype(np.float32)
  padded, size = models.pad_to_multiple(x, 8)
  assert padded.shape == (2, 24, 32, 3)
  np.testing.assert_array_equal(models.crop_to(padded, size), x)
  np.testing.assert_array_equal(padded[:, 17, :30], x[:, 15])  # reflected, not zeros


@pytest.mark.slow
def test_token_ids_under_padding_mask_change_nothing(minilm):
  """End to end: tokenizer -> MiniLM -> network, with live text paths."""
  cfg = _tiny()
  ids, mask = minilm.tokenizer(["a bright photo of a red house", "dim light"])
  encode = jax.jit(minilm.module.apply)  # one compile; op by op it is hundreds
  feats = encode({"params": minilm.params}, ids, mask)
  model, params, low, _ = _init(cfg, text=feats)
  params = _open_gates(params)
  junk = np.where(mask, ids, np.random.default_rng(0).integers(1000, 20000, ids.shape))
  assert (junk != ids).any()
  feats_junk = encode({"params": minilm.params}, junk.astype(np.int32), mask)
  out = model.apply({"params": params}, low, feats)
  out_junk = model.apply({"params": params}, low, feats_junk)
  assert_close(out_junk, out)
  # Sanity: the same change to a *real* token does move the output.
  changed = ids.copy()
  changed[0, 2] = 2000
  feats_changed = encode({"params": minilm.params}, changed, mask)
  assert np.abs(model.apply({"params": params}, low, feats_changed) - out).max() > 1e-4


def test_zero_gates_ignore_words_open_gates_do_not():
  cfg = _tiny()
  model, params, low, text = _init(cfg)
  other_words = text._replace(words=jax.random.normal(jax.random.key(9), text.words.shape))
  run = lambda p, t: model.apply({"params": p}, low, t)
  np.testing.assert_array_equal(run(params, text), run(params, other_words))
  opened = _open_gates(params)
  assert np.abs(run(opened, text) - run(opened, other_words)).max() > 1e-3


@pytest.mark.slow
def test_text_free_config_needs_no_text():
  cfg = _tiny(film=False, cross_attention=False)
  model = _Jitted(cfg)
  low = jnp.full((1, 16, 16, 3), 0.1)
  params = jax.jit(model.module.init)(jax.random.key(0), low, None)["params"]
  assert not any("tcm" in k or "text" in k for k in params)
  assert model.apply({"params": params}, low, None).shape == low.shape
  with pytest.raises(ValueError, match="TextFeatures"):
    models.NaLSuper(_tiny()).init(jax.random.key(0), low, None)


@pytest.mark.slow
def test_gradients_finite_and_reach_every_parameter():
  cfg = _tiny(image_self_attention=True, window=2)
  model, params, low, text = _init(cfg, 16, 24)
  target = jnp.clip(low * 3, 0, 1)

  def loss(p):
    return jnp.mean(jnp.abs(model.apply({"params": p}, low, text) - target))
  grad = jax.jit(jax.grad(loss))
  for p in (params, _open_gates(params)):
    grads = grad(p)
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
      assert np.isfinite(np.asarray(g)).all(), jax.tree_util.keystr(path)
  # With the gates open every parameter is on the path to the loss.
  dead = [jax.tree_util.keystr(path) for path, g in
          jax.tree_util.tree_flatten_with_path(grad(_open_gates(params)))[0]
          if not np.abs(np.asarray(g)).max() > 0]
  assert not dead, dead


@pytest.mark.slow
def test_jit_and_bfloat16_agree_with_eager_float32():
  cfg = _tiny()
  model, params, low, text = _init(cfg, 16, 16)
  params = _open_gates(params)
  eager = model.module.apply({"params": params}, low, text)
  assert_close(model.apply({"params": params}, low, text), eager)
  bf16 = models.NaLSuper(_tiny(dtype="bfloat16"))
  out16 = jax.jit(bf16.apply)({"params": params}, low, text)
  assert out16.dtype == jnp.float32 and np.isfinite(np.asarray(out16)).all()
  # bfloat16 keeps ~3 significant digits; compare the predicted residual. Random
  # open gates amplify rounding: six `_open_gates` seeds gave 0.012-0.072 of the
  # residual (2026-11-26, Intel); the bound is twice the worst of them.
  rel = np.abs(out16 - eager).mean() / np.abs(eager - low).mean()
  assert rel < 0.15, rel


def _np_attention(q, k, v, key_ok, heads):
  """Multi-head attention, one head at a time in float64 (the test's reference)."""
  dh = q.shape[-1] // heads
  out = np.zeros_like(q)
  for i in range(heads):
    cols = slice(i * dh, (i + 1) * dh)
    logits = q[:, cols] @ k[:, cols].T / np.sqrt(dh)
    logits = np.where(key_ok[None, :], logits, -np.inf)
    if key_ok.any():
      weights = np.exp(logits - logits.max(-1, keepdims=True))
      out[:, cols] = (weights / weights.sum(-1, keepdims=True)) @ v[:, cols]
  return out


def _np_layer_norm(x, p):
  mean = x.mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * p["scale"] + p["bias"]


def _np_tcm(params, x, text, cfg):
  """TCM steps 2-4 transcribed from the module docstring, in NumPy: windows
  are cut out with slices (no padding), attention runs per image and head."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  x = np.asarray(x, np.float64).copy()
  words, mask = np.asarray(text.words, np.float64), np.asarray(text.mask)
  sentence = np.asarray(text.sentence, np.float64)
  b, h, w, c = x.shape
  sa, ws = p["image_self_attention"], cfg.window
  update = np.zeros_like(x)
  for n in range(b):
    for i in range(0, h, ws):
      for j in range(0, w, ws):
        block = x[n, i:i + ws, j:j + ws]
        flat = _np_layer_norm(block.reshape(-1, c), sa["norm"])
        q, k, v = np.split(flat @ sa["qkv"]["kernel"], 3, axis=-1)
        out = _np_attention(q, k, v, np.ones(len(q), bool), cfg.heads)
        out = out @ sa["out"]["kernel"] + sa["out"]["bias"]
        update[n, i:i + ws, j:j + ws] = out.reshape(block.shape) * sa["gate"]
  x = x + update
  film = sentence @ p["film"]["project"]["kernel"] + p["film"]["project"]["bias"]
  x = x * (1 + film[:, None, None, :c]) + film[:, None, None, c:]
  ca = p["word_cross_attention"]
  for n in range(b):
    q = _np_layer_norm(x[n].reshape(-1, c), ca["norm"]) @ ca["query"]["kernel"]
    out = _np_attention(q, words[n] @ ca["key"]["kernel"], words[n] @ ca["value"]["kernel"],
                        mask[n], cfg.heads)
    out = out @ ca["out"]["kernel"] + ca["out"]["bias"]
    x[n] = x[n] + out.reshape(h, w, c) * ca["gate"]
  return x


def test_tcm_follows_its_steps_and_tcm_apply_is_pure():
  """TCM (windowed image attention on a grid the window does not divide, FiLM,
  masked word attention) against the NumPy transcription `_np_tcm`."""
  cfg = models.TCMConfig(heads=2, pool=1, image_self_attention=True, window=3)
  x = jax.random.normal(jax.random.key(0), (2, 7, 5, 8))
  text = _random_text(2, dim=16)
  params = _open_gates(nn.meta.unbox(
      jax.jit(models.TCM(cfg).init)(jax.random.key(1), x, text)["params"]))
  assert set(params) == {"image_self_attention", "film", "word_cross_attention"}
  pure = jax.jit(models.tcm_apply, static_argnums=3)
  out = pure(params, x, text, cfg)
  assert_close(out, _np_tcm(params, x, text, cfg), rel=1e-5)
  assert np.abs(out - x).max() > 1e-2  # it does something
  # A caption with every token masked must not produce NaN.
  empty = text._replace(mask=jnp.zeros_like(text.mask))
  assert_close(pure(params, x, empty, cfg), _np_tcm(params, x, empty, cfg), rel=1e-5)


@pytest.mark.slow
def test_ifa_text_starts_neutral_and_then_reads_the_sentence():
  """`ifa_text`: a fresh network equals the one without it (zero-initialised
  projections); opened, the sentence alone moves the output even with FiLM and
  cross-attention off, and gradients reach the projections from the start."""
  plain_cfg = _tiny(film=False, cross_attention=False, ifa_text=False)
  cfg = _tiny(film=False, cross_attention=False, ifa_text=True)
  model, params, low, text = _init(cfg, 16, 16)
  text_leaves = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]
                 if "'text'" in jax.tree_util.keystr(p)]
  assert any("cafb" in k for k in text_leaves) and any("'ca'" in k for k in text_leaves)
  strip = lambda tree: {k: strip(v) for k, v in tree.items() if k != "text"} \
      if isinstance(tree, dict) else tree
  assert_close(model.apply({"params": params}, low, text),
               _Jitted(plain_cfg).apply({"params": strip(params)}, low, None), rel=1e-6)
  loss = lambda p, t: jnp.mean(model.module.apply({"params": p}, low, t))
  grads = jax.jit(jax.grad(loss))(params, text)
  for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
    if "'text'" in jax.tree_util.keystr(path) and "kernel" in jax.tree_util.keystr(path):
      assert np.abs(np.asarray(g)).max() > 0, jax.tree_util.keystr(path)
  keys = iter(jax.random.split(jax.random.key(5), 100))
  opened = jax.tree_util.tree_map_with_path(
      lambda p, x: 0.5 * jax.random.normal(next(keys), x.shape)
      if "'text'" in jax.tree_util.keystr(p) else x, params)
  other = text._replace(sentence=jax.random.normal(jax.random.key(9), text.sentence.shape))
  assert np.abs(model.apply({"params": opened}, low, text)
                - model.apply({"params": opened}, low, other)).max() > 1e-3


@pytest.mark.slow
def test_per_example_kernel_gradients_equal_the_batched_ones(monkeypatch):
  """`conv_kernel_grad`: the same forward pass, and gradients equal up to the
  order of the sum, for kernel gradients cut into images and spatial tiles
  (5 images; tiles of side 4 over 12x10 outputs leave ragged edges; strides,
  dilation, 'SAME' and explicit padding; the piece cap doubles the tiles)."""
  x = jax.random.normal(jax.random.key(0), (5, 12, 10, 6))
  k = jax.random.normal(jax.random.key(1), (3, 3, 6, 4))
  monkeypatch.setattr(layers, "KERNEL_GRAD_TILE_VALUES", 16 * 6)  # side 4 for 6 features
  cases = [  # stride, padding, dilation, piece cap -> convolutions in the kernel gradient
      (1, ((1, 1), (1, 1)), 1, 64, 5 * 3 * 3),
      (2, "SAME", 1, 64, 5 * 2 * 2),
      (1, "SAME", 2, 64, 5 * 3 * 3),
      (2, ((2, 0), (1, 2)), 1, 64, 5 * 2 * 2),
      (1, "SAME", 1, 20, 5 * 2 * 2),  # 45 pieces > 20: side 8
      (1, "VALID", 1, 3, 3),          # fewer pieces than images: groups of images
  ]
  for stride, padding, dilation, cap, pieces in cases:
    monkeypatch.setattr(layers, "MAX_KERNEL_GRAD_PIECES", cap)
    def loss(mode, x, k):
      y = layers.conv_general_dilated(mode)(
          x, k, (stride, stride), padding, rhs_dilation=(dilation, dilation),
          dimension_numbers=jax.lax.conv_dimension_numbers(x.shape, k.shape,
                                                           ("NHWC", "HWIO", "NHWC")))
      return jnp.sum(jnp.sin(y))
    batched = jax.grad(functools.partial(loss, "batched"), argnums=(0, 1))(x, k)
    split_fn = jax.grad(functools.partial(loss, "per_example"), argnums=(0, 1))
    convs = str(jax.make_jaxpr(split_fn)(x, k)).count("conv_general_dilated[")
    assert convs == 2 + pieces, (stride, padding, dilation, cap, convs)  # forward, input grad
    for a, b in zip(jax.jit(split_fn)(x, k), batched):
      assert_close(a, b, rel=1e-5)
  # The network's 3x3 convolutions take the path the config names (traced only).
  _, params, low, text = _init(_tiny(), 16, 16, batch=3)
  for mode, expected in (("batched", 0), ("per_example", 1), ("auto", int(jax.device_count() == 1))):
    net = models.NaLSuper(_tiny(conv_kernel_grad=mode))
    jaxpr = str(jax.make_jaxpr(net.apply)({"params": params}, low, text))
    assert min(jaxpr.count("custom_vjp_call["), 1) == expected, mode
  with pytest.raises(ValueError, match=r"config\.model\.conv_kernel_grad"):
    _tiny(conv_kernel_grad="fast")


@pytest.mark.parametrize("shape,kernel,stride,padding", [
    ((3, 12, 10, 6), 3, 2, "SAME"),            # the network's downsampling
    ((2, 13, 11, 6), 3, 2, "SAME"),            # odd sizes
    ((2, 12, 10, 6), 3, 2, ((2, 0), (1, 2))),  # explicit, uneven padding
    ((2, 17, 16, 4), 4, 2, "VALID"),           # the last padded row is never read
    ((2, 15, 17, 4), 3, 3, "VALID"),           # stride 3
])
def test_strided_input_gradient_through_space_to_depth_equals_lax(shape, kernel, stride, padding):
  """A strided convolution's input gradient on the per-piece path runs as the
  stride-1 convolution over s x s pixel blocks (`layers._strided_input_grad`):
  no convolution over a zero-dilated input is left, and both gradients equal
  jax's own up to float rounding."""
  x = jax.random.normal(jax.random.key(0), shape)
  k = jax.random.normal(jax.random.key(1), (kernel, kernel, shape[-1], 8))
  dims = jax.lax.conv_dimension_numbers(x.shape, k.shape, ("NHWC", "HWIO", "NHWC"))

  def loss(conv, x, k):
    return jnp.sum(jnp.sin(conv(x, k, (stride, stride), padding, dimension_numbers=dims)))

  grad = lambda conv: jax.grad(functools.partial(loss, conv), argnums=(0, 1))
  split = grad(layers.conv_general_dilated("per_example"))
  assert f"lhs_dilation=({stride}, {stride})" not in str(jax.make_jaxpr(split)(x, k))
  assert f"lhs_dilation=({stride}, {stride})" in str(
      jax.make_jaxpr(grad(jax.lax.conv_general_dilated))(x, k))  # what it replaces
  for a, b in zip(jax.jit(split)(x, k), grad(jax.lax.conv_general_dilated)(x, k)):
    assert_close(a, b, rel=1e-5)


def test_pointwise_and_few_channel_convolutions_equal_lax_conv():
  """A 1x1 convolution runs as a dot and a 3-channel 3x3 one gets a zero
  fourth channel (`layers.conv_general_dilated`): outputs and both gradients
  equal lax.conv_general_dilated's, and the jaxpr shows the path was taken."""
  dn = ("NHWC", "HWIO", "NHWC")
  x = jax.random.normal(jax.random.key(0), (2, 9, 7, 3))
  for kernel, path in (((1, 1, 3, 5), "dot_general["), ((3, 3, 3, 5), "pad[")):
    k = jax.random.normal(jax.random.key(1), kernel)
    def f(conv, x, k):
      return conv(x, k, (1, 1), "SAME", dimension_numbers=jax.lax.conv_dimension_numbers(
          x.shape, k.shape, dn))
    ours = functools.partial(f, layers.conv_general_dilated("batched"))
    ref = functools.partial(f, jax.lax.conv_general_dilated)
    assert path in str(jax.make_jaxpr(ours)(x, k)), kernel
    assert_close(ours(x, k), ref(x, k), rel=1e-5)
    loss = lambda fn: jax.grad(lambda x, k: jnp.sum(jnp.sin(fn(x, k))), argnums=(0, 1))(x, k)
    for a, b in zip(loss(ours), loss(ref)):
      assert_close(a, b, rel=1e-5)


def test_cafb_equals_project_then_resample_with_stacked_levels():
  """Reference: CAFB written as first built (each other level projected at its
  own resolution, then resampled; levels stacked and summed with einsum).
  Ours pools a finer level before projecting and sums over the list."""
  cafb = ifa.CAFB(reduction=8)
  rng = jax.random.split(jax.random.key(0), 4)
  ref_in = [jax.random.normal(rng[0], (2, 8, 6, 16)), jax.random.normal(rng[1], (2, 8, 6, 16))]
  finer = jax.random.normal(rng[2], (2, 16, 12, 8))
  coarser = jax.random.normal(rng[3], (2, 4, 3, 32))
  params = nn.unbox(cafb.init(jax.random.key(1), ref_in, [finer, coarser])["params"])
  params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(2), p.shape), params)
  ours = cafb.apply({"params": params}, ref_in, [finer, coarser])

  def project(x, p):
    return jnp.einsum("bhwc,co->bhwo", x, p["kernel"][0, 0]) + p["bias"]
  feats = ref_in + [resample.rescale(project(o, params[f"project_{i}"]), 8, 6)
                    for i, o in enumerate([finer, coarser])]
  stacked = jnp.stack(feats, axis=1)
  g = jnp.mean(stacked.sum(1), axis=(1, 2))
  g = nn.gelu(g @ params["squeeze"]["kernel"] + params["squeeze"]["bias"])
  logits = (g @ params["excite"]["kernel"] + params["excite"]["bias"]).reshape(2, 4, 16)
  fused = jnp.einsum("bnhwc,bnc->bhwc", stacked, jax.nn.softmax(logits, axis=1))
  pa = params["pa"]
  gate = nn.gelu(project(fused, pa["squeeze"]))
  expected = fused * jax.nn.sigmoid(project(gate, pa["excite"]))
  assert_close(ours, expected, rel=1e-5)


def test_upsampling_matches_jax_image_resize():
  x = jax.random.normal(jax.random.key(0), (2, 6, 5, 3))
  for f in (2, 4):
    ref = jax.image.resize(x, (2, 6 * f, 5 * f, 3), "linear")
    assert_close(resample.upsample_bilinear(x, f), ref)
  assert_close(resample.rescale(x[:, :4, :4], 2, 2),
               x[:, :4, :4].reshape(2, 2, 2, 2, 2, 3).mean((2, 4)))


def test_config_validation_names_the_field():
  cfg = tiny.get_config().model
  cfg.blocks = (1, 1)
  with pytest.raises(ValueError, match=r"config\.model\.blocks"):
    models.NaLSuperConfig.from_config(cfg)
  bad = dict(tiny.get_config().model)
  bad["chanels"] = 3
  with pytest.raises(ValueError, match="chanels"):
    models.NaLSuperConfig.from_config(bad)
  with pytest.raises(ValueError, match=r"config\.model\.heads"):
    _tiny(heads=3)


@pytest.mark.slow
def test_small_size_budget():
  """small: 1M-4M image-network parameters, <= 16 GFLOPs (XLA) at 256x256."""
  small = models.model_cost(models.model_config("small"), 256, 256)
  assert 1_000_000 <= small.params <= 4_000_000, small
  assert small.gflops <= 16.0, small
  # The parameter count is independent of image size; FLOPs scale with pixels.
  half = models.model_cost(models.model_config("small"), 128, 128)
  assert half.params == small.params
  assert half.gflops == pytest.approx(small.gflops / 4, rel=0.05)
  base_cfg = models.NaLSuperConfig.from_config(models.model_config("base"))
  assert base_cfg.channels == 48 and base_cfg.blocks == (3, 3, 3)


def test_xla_flop_count_matches_a_convolution_counted_by_hand():
  """The cost tool's FLOPs (and so README's GFLOPs/GMACs) against a count by
  hand for a 3x3 'SAME' convolution: a multiply-add is 2 FLOPs, and taps that
  fall on the zero padding are not counted, so the 9 taps per pixel become
  (3H - 2)(3W - 2) / (HW) on average (9 H W would be 3.6% more here)."""
  x = jax.ShapeDtypeStruct((1, 32, 48, 16), jnp.float32)
  k = jax.ShapeDtypeStruct((3, 3, 16, 24), jnp.float32)
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  assert cost.xla_flops(conv, x, k) == pytest.approx(2 * 16 * 24 * (3 * 32 - 2) * (3 * 48 - 2),
                                                     rel=1e-6)


def test_size_sets_the_widths_and_explicit_fields_override_it():
  cfg = tiny.get_config().model
  assert cfg.channels is None  # set by the size, not written twice
  assert models.NaLSuperConfig.from_config(cfg).channels == models.SIZES["tiny"]["channels"]
  cfg.size = "base"
  base = models.NaLSuperConfig.from_config(cfg)
  assert (base.channels, base.blocks) == (48, (3, 3, 3))
  cfg.channels = 16
  assert models.NaLSuperConfig.from_config(cfg).channels == 16
  cfg.size = "huge"
  with pytest.raises(ValueError, match=r"config\.model\.size='huge'.*\['base', 'small', 'tiny'\]"):
    models.NaLSuperConfig.from_config(cfg)
