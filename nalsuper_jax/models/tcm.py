"""Textual Guidance Conditioning Mechanism (TCM).

The paper aligns image regions with caption words by cross-attention (cross-
modal alignment) after intra-modal alignment of each side. Each step is a
submodule named for it; `TCM` runs them in this order:

1. text, intra-modal: words projected to `text_dim` and refined by one
   pre-LayerNorm self-attention layer (`TextRefiner`; it runs once in the
   network and its words are shared by every level's TCM);
2. image, intra-modal (optional, `image_self_attention`): regions attend to
   each other inside non-overlapping windows (`ImageSelfAttention`);
3. global conditioning: FiLM from the sentence vector, x * (1 + gamma) + beta
   (`FiLM`);
4. cross-modal: LayerNorm'd regions (pixels average-pooled by `pool`) attend to
   the words under the padding mask; the result is upsampled back and added
   through a per-channel gate (`WordCrossAttention`).

FiLM and the gates start at zero, so a fresh network is a text-free backbone
and learns how much to listen -- our answer to the paper's remark that the
multimodal model is hard to train. Steps 2-4 are also the pure function
`tcm_apply(params, image_features, text_features, config)`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import einops
import flax.linen as nn
import jax
import jax.numpy as jnp

from nalsuper_jax import layers
from nalsuper_jax.models.config import NaLSuperConfig
from nalsuper_jax.models import resample
from nalsuper_jax.text.features import TextFeatures

Array = jax.Array


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


def pool_regions(x: Array, pool: int) -> Array:
  """Average-pools pool x pool pixel blocks into regions."""
  return resample.downsample_average(x, pool)


def unpool_regions(r: Array, pool: int, method: str) -> Array:
  """Brings region features back to pixels (bilinear or nearest)."""
  if method == "nearest":
    return resample.upsample_nearest(r, pool)
  return resample.upsample_bilinear(r, pool)


def _gate(module: nn.Module, channels: int, dtype: Any) -> Array:
  """A per-channel gate, zero at init: the step adds nothing until it learns to."""
  return module.param("gate", layers.partitioned(nn.initializers.zeros_init(), ("embed",)),
                      (channels,), jnp.float32).astype(dtype)


class ImageSelfAttention(nn.Module):
  """Step 2: regions attend to regions inside window x window blocks.

  The region grid is zero-padded up to a multiple of the window; padded
  regions are masked out as keys and dropped from the output. Returns the
  gated update at pixel resolution (the caller adds it).
  """
  heads: int
  window: int
  pool: int
  upsample: str

  @nn.compact
  def __call__(self, x: Array) -> Array:
    r = pool_regions(x, self.pool)
    b, h, w, c = r.shape
    wh, ww = min(self.window, h), min(self.window, w)
    pad = ((0, 0), (0, -h % wh), (0, -w % ww), (0, 0))
    windows = "b (nh wh) (nw ww) c -> b (nh nw) (wh ww) c"
    regions = einops.rearrange(jnp.pad(r, pad), windows, wh=wh, ww=ww)
    valid = einops.rearrange(jnp.pad(jnp.ones((1, h, w, 1), bool), pad), windows,
                             wh=wh, ww=ww)[..., 0]                   # [1, n, wh * ww]
    normed = layers.layer_norm(dtype=x.dtype, name="norm")(regions)
    qkv = layers.dense(3 * c, use_bias=False, dtype=x.dtype, axes=("embed", "heads"),
                       name="qkv")(normed)
    q, k, v = (layers.split_heads(t, self.heads) for t in jnp.split(qkv, 3, axis=-1))
    out = layers.merge_heads(layers.attention(q, k, v, valid[:, :, None, None, :]))
    out = layers.dense(c, dtype=x.dtype, axes=("heads", "embed"), name="out")(out)
    out = einops.rearrange(out, "b (nh nw) (wh ww) c -> b (nh wh) (nw ww) c",
                           nh=(h + pad[1][1]) // wh, wh=wh, ww=ww)[:, :h, :w]
    return unpool_regions(out * _gate(self, c, x.dtype), self.pool, self.upsample)


class FiLM(nn.Module):
  """Step 3: x * (1 + gamma) + beta, with (gamma, beta) from the sentence vector.

  The projection starts at zero, so FiLM starts as the identity.
  """

  @nn.compact
  def __call__(self, x: Array, sentence: Array) -> Array:
    film = layers.sentence_projection(2 * x.shape[-1], dtype=x.dtype,
                                      name="project")(sentence.astype(x.dtype))
    gamma, beta = jnp.split(film[:, None, None, :], 2, axis=-1)
    return x * (1 + gamma) + beta


class WordCrossAttention(nn.Module):
  """Step 4: regions [B, h, w, C] attend to words [B, L, D] under the padding mask.

  Returns the gated update at pixel resolution (the caller adds it).
  """
  heads: int
  pool: int
  upsample: str

  @nn.compact
  def __call__(self, x: Array, text: TextFeatures) -> Array:
    c = x.shape[-1]
    r = pool_regions(x, self.pool)
    b, h, w, _ = r.shape
    project = lambda name, axes: layers.dense(c, use_bias=False, dtype=x.dtype, axes=axes,
                                              name=name)
    normed = layers.layer_norm(dtype=x.dtype, name="norm")(r)
    q = project("query", ("embed", "heads"))(normed.reshape(b, h * w, c))
    words = text.words.astype(x.dtype)
    k = project("key", ("text_embed", "heads"))(words)
    v = project("value", ("text_embed", "heads"))(words)
    out = layers.attention(*(layers.split_heads(t, self.heads) for t in (q, k, v)),
                           text.mask[:, None, None, :])
    out = layers.dense(c, dtype=x.dtype, axes=("heads", "embed"),
                       name="out")(layers.merge_heads(out))
    return unpool_regions(out.reshape(b, h, w, c) * _gate(self, c, x.dtype), self.pool,
                          self.upsample)


class TCM(nn.Module):
  """Conditions image features [B, H, W, C] on text; returns the same shape.

  `text.words` are the refined words (width `text_dim`, step 1); the
  sentence vector is the text encoder's. Computation runs in the image
  features' dtype (parameters are stored float32 and cast), so the same
  params serve float32 and bfloat16 calls.
  """
  config: TCMConfig

  @nn.compact
  def __call__(self, x: Array, text: TextFeatures) -> Array:
    cfg = self.config
    if cfg.image_self_attention:
      x = x + ImageSelfAttention(cfg.heads, cfg.window, cfg.pool, cfg.upsample,
                                 name="image_self_attention")(x)
    if cfg.film:
      x = FiLM(name="film")(x, text.sentence)
    if cfg.cross_attention:
      x = x + WordCrossAttention(cfg.heads, cfg.pool, cfg.upsample,
                                 name="word_cross_attention")(x, text)
    return x


def tcm_apply(params: Mapping[str, Any], image_features: Array,
              text_features: TextFeatures, config: TCMConfig) -> Array:
  """Steps 2-4 as a pure function of (params, image features, text features)."""
  return TCM(config).apply({"params": params}, image_features, text_features)


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
