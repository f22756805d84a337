"""Textual Guidance Conditioning Mechanism (TCM).

The paper aligns image regions with caption words by cross-attention (cross-
modal alignment) after intra-modal alignment of each side. Here that is:

1. text, intra-modal: words projected to `text_dim` and refined by one
   pre-LayerNorm self-attention layer (`TextRefiner`, shared by all levels);
2. image, intra-modal (optional): windowed self-attention over regions;
3. global conditioning: FiLM from the sentence vector, x * (1 + gamma) + beta;
4. cross-modal: LayerNorm'd regions (pixels average-pooled by `pool`) attend to
   the words under the padding mask; the result is upsampled back and added
   through a per-channel gate initialised at zero.

FiLM and the gates start at zero, so a fresh network is a text-free backbone
and learns how much to listen -- our answer to the paper's remark that the
multimodal model is hard to train. Steps 2-4 are the pure function
`tcm_apply(params, image_features, text_features, config)`; `TCM` is the linen
module that owns the parameters and calls it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from nalsuper_jax import layers
from nalsuper_jax.models.config import NaLSuperConfig
from nalsuper_jax.models import resample
from nalsuper_jax.text.features import TextFeatures

Array = jax.Array
_LN_EPS = 1e-5


@dataclasses.dataclass(frozen=True)
class TCMConfig:
  """Settings of one TCM (one level of the network)."""
  heads: int = 4
  pool: int = 1
  film: bool = True
  cross_attention: bool = True
  upsample: str = "bilinear"
  image_self_attention: bool = False
  window: int = 8

  @classmethod
  def for_level(cls, cfg: NaLSuperConfig, level: int) -> "TCMConfig":
    return cls(heads=cfg.heads, pool=cfg.tcm_pool[level], film=cfg.film,
                cross_attention=cfg.cross_attention, upsample=cfg.tcm_upsample,
                image_self_attention=cfg.image_self_attention, window=cfg.window)

  @property
  def active(self) -> bool:
    return self.film or self.cross_attention or self.image_self_attention


# name -> (shape given (C, word dim, sentence dim), initializer, logical axes)
_Spec = tuple[Callable[[int, int, int], tuple[int, ...]], Callable, tuple]
_zeros, _ones = nn.initializers.zeros_init(), nn.initializers.ones_init()
_lecun = nn.initializers.lecun_normal()


def param_specs(config: TCMConfig) -> dict[str, _Spec]:
  """The parameters `tcm_apply` reads, with shapes, inits and axis names."""
  specs: dict[str, _Spec] = {}
  if config.image_self_attention:
    specs.update(
        self_norm_scale=(lambda c, w, s: (c,), _ones, ("norm",)),
        self_norm_bias=(lambda c, w, s: (c,), _zeros, ("norm",)),
        self_qkv_kernel=(lambda c, w, s: (c, 3 * c), _lecun, ("embed", "heads")),
        self_out_kernel=(lambda c, w, s: (c, c), _lecun, ("heads", "embed")),
        self_out_bias=(lambda c, w, s: (c,), _zeros, ("embed",)),
        self_gate=(lambda c, w, s: (c,), _zeros, ("embed",)),
    )
  if config.film:
    specs.update(
        film_kernel=(lambda c, w, s: (s, 2 * c), _zeros, ("text_embed", "embed")),
        film_bias=(lambda c, w, s: (2 * c,), _zeros, ("embed",)),
    )
  if config.cross_attention:
    specs.update(
        cross_norm_scale=(lambda c, w, s: (c,), _ones, ("norm",)),
        cross_norm_bias=(lambda c, w, s: (c,), _zeros, ("norm",)),
        cross_query_kernel=(lambda c, w, s: (c, c), _lecun, ("embed", "heads")),
        cross_key_kernel=(lambda c, w, s: (w, c), _lecun, ("text_embed", "heads")),
        cross_value_kernel=(lambda c, w, s: (w, c), _lecun, ("text_embed", "heads")),
        cross_out_kernel=(lambda c, w, s: (c, c), _lecun, ("heads", "embed")),
        cross_out_bias=(lambda c, w, s: (c,), _zeros, ("embed",)),
        cross_gate=(lambda c, w, s: (c,), _zeros, ("embed",)),
    )
  return specs


def pool_regions(x: Array, pool: int) -> Array:
  """Average-pools pool x pool pixel blocks into regions."""
  return resample.downsample_average(x, pool)


def unpool_regions(r: Array, pool: int, method: str) -> Array:
  """Brings region features back to pixels (bilinear or nearest)."""
  if method == "nearest":
    return resample.upsample_nearest(r, pool)
  return resample.upsample_bilinear(r, pool)


def _layer_norm(x: Array, scale: Array, bias: Array) -> Array:
  x32 = x.astype(jnp.float32)
  mean = x32.mean(-1, keepdims=True)
  var = jnp.square(x32 - mean).mean(-1, keepdims=True)
  return ((x32 - mean) * jax.lax.rsqrt(var + _LN_EPS) * scale + bias).astype(x.dtype)


def _window_self_attention(r: Array, p: Mapping[str, Array], heads: int, window: int) -> Array:
  """Self-attention inside non-overlapping window x window blocks of regions.

  The region grid is zero-padded up to a multiple of the window; padded
  regions are masked out as keys and dropped from the output.
  """
  b, h, w, c = r.shape
  ws_h, ws_w = min(window, h), min(window, w)
  ph, pw = -h % ws_h, -w % ws_w
  x = jnp.pad(r, ((0, 0), (0, ph), (0, pw), (0, 0)))
  valid = jnp.pad(jnp.ones((h, w), bool), ((0, ph), (0, pw)))
  nh, nw = (h + ph) // ws_h, (w + pw) // ws_w

  def to_windows(t):
    t = t.reshape(t.shape[0], nh, ws_h, nw, ws_w, *t.shape[3:])
    t = jnp.swapaxes(t, 2, 3)
    return t.reshape(t.shape[0], nh * nw, ws_h * ws_w, *t.shape[5:])

  xw = to_windows(_layer_norm(x, p["self_norm_scale"], p["self_norm_bias"]))
  q, k, v = jnp.split(xw @ p["self_qkv_kernel"], 3, axis=-1)
  q, k, v = (layers.split_heads(t, heads) for t in (q, k, v))
  key_ok = to_windows(valid[None, ..., None])[..., 0]          # [1, n, ws*ws]
  out = layers.merge_heads(layers.attention(q, k, v, key_ok[:, :, None, None, :]))
  out = out @ p["self_out_kernel"] + p["self_out_bias"]
  out = out.reshape(b, nh, nw, ws_h, ws_w, c).swapaxes(2, 3).reshape(b, nh * ws_h, nw * ws_w, c)
  return out[:, :h, :w] * p["self_gate"]


def _cross_attention(r: Array, text: TextFeatures, p: Mapping[str, Array], heads: int) -> Array:
  """Regions [B, h, w, C] attend to words [B, L, D] under the padding mask."""
  b, h, w, c = r.shape
  q = _layer_norm(r, p["cross_norm_scale"], p["cross_norm_bias"]).reshape(b, h * w, c)
  words = text.words.astype(r.dtype)
  q = layers.split_heads(q @ p["cross_query_kernel"], heads)
  k = layers.split_heads(words @ p["cross_key_kernel"], heads)
  v = layers.split_heads(words @ p["cross_value_kernel"], heads)
  out = layers.merge_heads(layers.attention(q, k, v, text.mask[:, None, None, :]))
  out = out @ p["cross_out_kernel"] + p["cross_out_bias"]
  return out.reshape(b, h, w, c)


def tcm_apply(params: Mapping[str, Array], image_features: Array,
              text_features: TextFeatures, config: TCMConfig) -> Array:
  """Conditions image features [B, H, W, C] on text; returns the same shape.

  `text_features.words` are the refined words (width `text_dim`); the
  sentence vector is the text encoder's. Parameters are cast to the image
  features' dtype, so the same params serve float32 and bfloat16 calls.
  """
  x = image_features
  p = {k: v.astype(x.dtype) for k, v in params.items()}
  if config.image_self_attention:
    r = pool_regions(x, config.pool)
    x = x + unpool_regions(_window_self_attention(r, p, config.heads, config.window),
                           config.pool, config.upsample)
  if config.film:
    film = text_features.sentence.astype(x.dtype) @ p["film_kernel"] + p["film_bias"]
    gamma, beta = jnp.split(film[:, None, None, :], 2, axis=-1)
    x = x * (1 + gamma) + beta
  if config.cross_attention:
    r = pool_regions(x, config.pool)
    out = unpool_regions(_cross_attention(r, text_features, p, config.heads),
                         config.pool, config.upsample)
    x = x + out * p["cross_gate"]
  return x


class TCM(nn.Module):
  """Linen wrapper: declares the parameters of `param_specs`, calls `tcm_apply`."""
  config: TCMConfig

  @nn.compact
  def __call__(self, x: Array, text: TextFeatures) -> Array:
    dims = (x.shape[-1], text.words.shape[-1], text.sentence.shape[-1])
    params = {
        name: self.param(name, layers.partitioned(init, axes), shape_fn(*dims), jnp.float32)
        for name, (shape_fn, init, axes) in param_specs(self.config).items()}
    return tcm_apply(params, x, text, self.config)


class TextRefiner(nn.Module):
  """Intra-modal text alignment, shared by every TCM: project, self-attend.

  Words are projected to `dim`; with `self_attention`, one pre-LayerNorm
  transformer layer (masked self-attention + MLP) lets words see each other
  ("bright" next to "sky"). A final LayerNorm keeps key/value scales steady.
  """
  dim: int
  heads: int
  self_attention: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, text: TextFeatures) -> TextFeatures:
    dense = lambda f, name, axes=("text_embed", "embed"): layers.dense(
        f, dtype=self.dtype, axes=axes, name=name)
    x = dense(self.dim, "project")(text.words.astype(self.dtype))
    if self.self_attention:
      h = layers.layer_norm(dtype=self.dtype, name="attention_ln")(x)
      q, k, v = (layers.split_heads(dense(self.dim, n, ("embed", "heads"))(h), self.heads)
                 for n in ("query", "key", "value"))
      att = layers.attention(q, k, v, text.mask[:, None, None, :])
      x = x + dense(self.dim, "attention_out", ("heads", "embed"))(layers.merge_heads(att))
      h = layers.layer_norm(dtype=self.dtype, name="mlp_ln")(x)
      h = nn.gelu(dense(4 * self.dim, "mlp_in", ("embed", "mlp"))(h))
      x = x + dense(self.dim, "mlp_out", ("mlp", "embed"))(h)
    x = layers.layer_norm(dtype=self.dtype, name="final_ln")(x)
    return TextFeatures(x, text.mask, text.sentence)
