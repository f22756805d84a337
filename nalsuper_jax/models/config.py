"""Network hyper-parameters: the ConfigDict users edit, the typed view modules use.

`model_config(size)` gives the `ml_collections` form that experiment configs
override (`--config.model.channels=48`); `NaLSuperConfig.from_config` validates
it once and turns it into a frozen, hashable dataclass for the linen modules.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import ml_collections

# Named sizes. `small` is the CPU default; `base` is for GPU/TPU runs. Both keep
# the same structure; only widths and depths change. Every IFA block costs the
# same FLOPs at any level (4x fewer pixels, 4x more weights), so `small` has one
# per level: 5 block passes keep it under 16 GFLOPs (XLA) at 256x256.
SIZES: dict[str, dict[str, Any]] = {
    "small": dict(channels=32, blocks=(1, 1, 1)),
    "base": dict(channels=48, blocks=(3, 3, 3)),
}


def model_config(size: str = "small") -> ml_collections.ConfigDict:
  """The network's ConfigDict, every field commented."""
  if size not in SIZES:
    raise ValueError(f"model size {size!r}; expected one of {sorted(SIZES)}")
  cfg = dict(
      size=size,                  # informational: which named size this started from
      channels=32,                # C: width at full resolution; level i has C * 2**i
      levels=3,                   # resolutions: full, 1/2, 1/4 (inputs: multiple of 2**(levels-1))
      blocks=(1, 1, 1),           # IFA blocks per level, encoder and decoder; last = bottleneck
      reduction=8,                # r: channel/pixel attention squeeze ratio
      heads=4,                    # attention heads in TCM (image regions -> words)
      text_dim=128,               # d: width words are projected to before TCM
      text_heads=4,               # heads of the shared text self-attention layer
      text_self_attention=True,   # refine words with one self-attention layer (intra-modal)
      film=True,                  # sentence-level FiLM in every TCM
      cross_attention=True,       # region -> word cross-attention in every TCM
      tcm_pool=(4, 2, 1),         # region size per level (pixels pooled per side)
      tcm_upsample="bilinear",    # how attended regions return to pixels: bilinear | nearest
      image_self_attention=False, # windowed self-attention over regions inside TCM
      window=8,                   # window side for image_self_attention (in regions)
      cafb=True,                  # cross-layer attention fusion in the decoder (else skip add)
      dtype="float32",            # compute dtype: float32 | bfloat16 (params stay float32)
  )
  cfg.update(SIZES[size])
  return ml_collections.ConfigDict(cfg)


@dataclasses.dataclass(frozen=True)
class NaLSuperConfig:
  """Typed, validated network settings (see `model_config` for meanings)."""
  channels: int = 32
  levels: int = 3
  blocks: tuple[int, ...] = (1, 1, 1)
  reduction: int = 8
  heads: int = 4
  text_dim: int = 128
  text_heads: int = 4
  text_self_attention: bool = True
  film: bool = True
  cross_attention: bool = True
  tcm_pool: tuple[int, ...] = (4, 2, 1)
  tcm_upsample: str = "bilinear"
  image_self_attention: bool = False
  window: int = 8
  cafb: bool = True
  dtype: str = "float32"
  size: str = "small"

  def __post_init__(self):
    def fail(field, msg):
      raise ValueError(f"config.model.{field}: {msg}")
    if self.levels < 1:
      fail("levels", f"must be >= 1, got {self.levels}")
    for name in ("blocks", "tcm_pool"):
      value = getattr(self, name)
      if len(value) != self.levels:
        fail(name, f"needs one entry per level ({self.levels}), got {value}")
      if min(value) < (0 if name == "blocks" else 1):
        fail(name, f"entries must be positive, got {value}")
    for name in ("channels", "heads", "text_dim", "text_heads", "reduction", "window"):
      if getattr(self, name) < 1:
        fail(name, f"must be >= 1, got {getattr(self, name)}")
    for level in range(self.levels):
      if self.width(level) % self.heads:
        fail("heads", f"{self.heads} does not divide level-{level} width {self.width(level)}")
    if self.text_dim % self.text_heads:
      fail("text_heads", f"{self.text_heads} does not divide text_dim {self.text_dim}")
    if self.tcm_upsample not in ("bilinear", "nearest"):
      fail("tcm_upsample", f"'bilinear' or 'nearest', got {self.tcm_upsample!r}")
    if self.dtype not in ("float32", "bfloat16"):
      fail("dtype", f"'float32' or 'bfloat16', got {self.dtype!r}")

  @classmethod
  def from_config(cls, cfg: ml_collections.ConfigDict | dict) -> "NaLSuperConfig":
    values = dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"config.model: unknown field(s) {unknown}; known: {sorted(known)}")
    for name in ("blocks", "tcm_pool"):
      if name in values:
        values[name] = tuple(values[name])
    return cls(**values)

  def width(self, level: int) -> int:
    return self.channels * 2 ** level

  @property
  def multiple(self) -> int:
    """Input height/width must be a multiple of this (callers pad, reflect)."""
    need = [2 ** (self.levels - 1)]
    if self.cross_attention or self.image_self_attention:
      need += [2 ** i * p for i, p in enumerate(self.tcm_pool)]
    return math.lcm(*need)

  @property
  def uses_text(self) -> bool:
    return self.film or self.cross_attention
