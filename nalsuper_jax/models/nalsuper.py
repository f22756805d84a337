"""The NaLSuper network: a text-conditioned U-shaped enhancer.

stem -> encoder levels (IFA blocks, TCM, strided-conv downsampling) ->
bottleneck -> decoder levels (pixel-shuffle upsampling, CAFB fusion across all
levels, IFA blocks, TCM) -> reconstruction head, plus the global residual
`out = low + head(x)` of the paper.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from nalsuper_jax import layers
from nalsuper_jax.models.config import NaLSuperConfig
from nalsuper_jax.models.ifa import CAFB, IFABlock
from nalsuper_jax.models.tcm import TCM, TCMConfig, TextRefiner
from nalsuper_jax.text.features import TextFeatures


def pixel_shuffle(x: jax.Array, factor: int = 2) -> jax.Array:
  """[B, H, W, C * f^2] -> [B, H * f, W * f, C] (depth to space)."""
  b, h, w, c = x.shape
  c_out = c // factor ** 2
  x = x.reshape(b, h, w, factor, factor, c_out).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * factor, w * factor, c_out)


class NaLSuper(nn.Module):
  """low [B, H, W, 3] in [0, 1] + TextFeatures -> enhanced [B, H, W, 3].

  H and W must be multiples of `config.multiple`; callers reflect-pad and crop
  back (see `nalsuper_jax.models.pad_to_multiple`). Output is float32 and
  unclipped (losses see the raw values); pass `clip_output=True` at inference.
  """
  config: NaLSuperConfig

  @nn.compact
  def __call__(self, low: jax.Array, text: TextFeatures | None, *,
               clip_output: bool = False) -> jax.Array:
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    _, h, w, c = low.shape
    if c != 3:
      raise ValueError(f"NaLSuper expects RGB input [B, H, W, 3], got shape {low.shape}")
    if h % cfg.multiple or w % cfg.multiple:
      raise ValueError(
          f"input size {h}x{w} is not a multiple of {cfg.multiple}; reflect-pad to a "
          "multiple and crop the output back (nalsuper_jax.models.pad_to_multiple)")
    if cfg.uses_text and text is None:
      raise ValueError("this network is text-conditioned (film, cross_attention or "
                       "ifa_text is on): pass TextFeatures")
    sentence = text.sentence if cfg.ifa_text else None  # the encoder's, before refinement
    if cfg.cross_attention:
      text = TextRefiner(cfg.text_dim, cfg.text_heads, cfg.text_self_attention, dtype,
                         name="text_refiner")(text)

    def blocks(x, level, side):
      for i in range(cfg.blocks[level]):
        x = IFABlock(cfg.reduction, dtype, cfg.conv_kernel_grad,
                     name=f"{side}{level}_block{i}")(x, sentence)
      tcm_cfg = TCMConfig.for_level(cfg, level)
      if tcm_cfg.active:
        x = TCM(tcm_cfg, name=f"{side}{level}_tcm")(x, text)
      return x

    conv = functools.partial(layers.conv, dtype=dtype, kernel_grad=cfg.conv_kernel_grad)
    x = conv(cfg.channels, 3, name="stem")(low.astype(dtype))
    skips = []
    for level in range(cfg.levels):
      if level:
        x = conv(cfg.width(level), 3, stride=2, name=f"down{level}")(x)
      x = blocks(x, level, "enc")
      skips.append(x)
    for level in reversed(range(cfg.levels - 1)):
      up = pixel_shuffle(conv(4 * cfg.width(level), 1, name=f"up{level}")(x))
      if cfg.cafb:
        others = [s for j, s in enumerate(skips) if j != level]
        x = CAFB(cfg.reduction, dtype, name=f"cafb{level}")([up, skips[level]], others,
                                                             sentence)
      else:
        x = up + skips[level]
      x = blocks(x, level, "dec")
    residual = conv(3, 3, name="head")(x)
    out = low.astype(jnp.float32) + residual.astype(jnp.float32)
    return jnp.clip(out, 0.0, 1.0) if clip_output else out
