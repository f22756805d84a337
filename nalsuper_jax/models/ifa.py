"""Information Fusion Attention: channel attention, pixel attention, IFA block, CAFB.

The paper's IFA fuses features with channel, pixel and cross-layer attention;
CA and PA follow FFA-Net's formulation (squeeze by `reduction`, sigmoid gate),
and CAFB (cross-layer attention fusion block) weights every input level per
channel with a softmax over inputs, SKNet-style, before a final PA.

The paper's IFA "merges features from various levels of image and textual
information". With `ifa_text` (a config switch) the sentence vector enters
here too: it adds a learned term to the channel-attention gate logits and to
CAFB's per-level weight logits. Those projections start at zero, so a fresh
network computes exactly what it computes without them.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from nalsuper_jax import layers
from nalsuper_jax.models.resample import rescale


# Fewest channels an attention bottleneck keeps: with C=8 and reduction 8 a
# one-channel gate could only scale every channel alike.
MIN_SQUEEZED = 4


def _squeezed(channels: int, reduction: int) -> int:
  """Bottleneck width of channel/pixel attention: C / reduction, at least MIN_SQUEEZED."""
  return max(channels // reduction, MIN_SQUEEZED)


class ChannelAttention(nn.Module):
  """Rescales channels by a gate computed from their global average (and the
  sentence vector, when given)."""
  reduction: int = 8
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, sentence: jax.Array | None = None):
    c = x.shape[-1]
    g = jnp.mean(x, axis=(1, 2), keepdims=True)
    g = nn.gelu(layers.conv(_squeezed(c, self.reduction), 1, dtype=self.dtype, name="squeeze")(g))
    g = layers.conv(c, 1, dtype=self.dtype, name="excite")(g)
    if sentence is not None:
      text = layers.sentence_projection(c, dtype=self.dtype, name="text")
      g = g + text(sentence.astype(self.dtype))[:, None, None, :]
    return x * jax.nn.sigmoid(g)


class PixelAttention(nn.Module):
  """Rescales pixels by a per-location gate (where the image is dark or noisy)."""
  reduction: int = 8
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    g = nn.gelu(layers.conv(_squeezed(c, self.reduction), 1, dtype=self.dtype, name="squeeze")(x))
    g = layers.conv(1, 1, dtype=self.dtype, name="excite")(g)
    return x * jax.nn.sigmoid(g)


class IFABlock(nn.Module):
  """x + PA(CA(conv3x3(gelu(conv3x3(x)))))."""
  reduction: int = 8
  dtype: Any = jnp.float32
  kernel_grad: str = "auto"

  @nn.compact
  def __call__(self, x, sentence: jax.Array | None = None):
    c = x.shape[-1]
    conv = lambda name: layers.conv(c, 3, dtype=self.dtype, kernel_grad=self.kernel_grad,
                                    name=name)
    h = conv("conv2")(nn.gelu(conv("conv1")(x)))
    h = ChannelAttention(self.reduction, self.dtype, name="ca")(h, sentence)
    return x + PixelAttention(self.reduction, self.dtype, name="pa")(h)


class CAFB(nn.Module):
  """Cross-layer attention fusion: softmax-weighted sum of level features.

  `inputs` must already have this level's shape; `others` are features of
  other levels, each projected (1x1) to this width and rescaled to this
  resolution (bilinear up, average down). Projection and resampling are both
  linear, so their order does not change the result: each runs at the lower
  of the two resolutions. The weighted sum is taken over the list, without
  stacking the levels into one [B, n, H, W, C] array (that copy and its
  transposes were a third of the `small` network's inference time on the
  CPU; BENCHMARKS.md).
  """
  reduction: int = 8
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, inputs: Sequence[jax.Array], others: Sequence[jax.Array],
               sentence: jax.Array | None = None):
    ref = inputs[0]
    _, h, w, c = ref.shape
    feats = list(inputs)
    for i, other in enumerate(others):
      project = layers.conv(c, 1, dtype=self.dtype, name=f"project_{i}")
      if other.shape[1] > h:  # a finer level: average down, then project
        feats.append(project(rescale(other, h, w)))
      else:
        feats.append(rescale(project(other), h, w))
    n = len(feats)
    g = jnp.mean(functools.reduce(jnp.add, feats), axis=(1, 2))  # [B, C]
    g = nn.gelu(layers.dense(_squeezed(c, self.reduction), dtype=self.dtype, name="squeeze")(g))
    logits = layers.dense(n * c, dtype=self.dtype, name="excite")(g)
    if sentence is not None:
      text = layers.sentence_projection(n * c, dtype=self.dtype, name="text")
      logits = logits + text(sentence.astype(self.dtype))
    logits = logits.reshape(-1, n, c)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=1).astype(ref.dtype)
    fused = functools.reduce(jnp.add, (f * weights[:, i, None, None, :]
                                       for i, f in enumerate(feats)))
    return PixelAttention(self.reduction, self.dtype, name="pa")(fused)
