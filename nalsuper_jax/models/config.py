"""Network hyper-parameters: the ConfigDict users edit, the typed view modules use.

`model_config(size)` gives the `ml_collections` form that experiment configs
override (`--config.model.size=base`, `--config.model.channels=48`);
`NaLSuperConfig.from_config` resolves the size, validates once and gives a
frozen, hashable dataclass for the linen modules.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import ml_collections

from nalsuper_jax import layers

# Named sizes: the widths and depths a size sets (every other field has one
# default, below). `small` is the CPU default; `base` is for GPU/TPU runs;
# `tiny` runs the tests in seconds. All keep the same structure. Every IFA
# block costs the same FLOPs at any level (4x fewer pixels, 4x more weights),
# so `small` has one per level: 5 block passes keep it under 16 GFLOPs (XLA)
# at 256x256.
SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(channels=8, blocks=(1, 1, 1), heads=2, text_dim=16, text_heads=2),
    "small": dict(channels=32, blocks=(1, 1, 1), heads=4, text_dim=128, text_heads=4),
    "base": dict(channels=48, blocks=(3, 3, 3), heads=4, text_dim=128, text_heads=4),
}
SIZED = ("channels", "blocks", "heads", "text_dim", "text_heads")


def _check_size(size: str) -> None:
  if size not in SIZES:
    raise ValueError(f"config.model.size={size!r}: unknown size; expected one of "
                     f"{sorted(SIZES)}")


def model_config(size: str = "small") -> ml_collections.ConfigDict:
  """The network's ConfigDict (meanings: `NaLSuperConfig`).

  The fields a size sets are typed placeholders (None): `--config.model.size=base`
  changes them all, and `--config.model.channels=16` overrides one.
  """
  _check_size(size)
  cfg: dict[str, Any] = {"size": size}
  for field in dataclasses.fields(NaLSuperConfig):
    if field.name in SIZED:
      cfg[field.name] = ml_collections.config_dict.placeholder(
          tuple if field.name == "blocks" else int)
    elif field.name != "size":
      cfg[field.name] = field.default
  return ml_collections.ConfigDict(cfg)


@dataclasses.dataclass(frozen=True)
class NaLSuperConfig:
  """Typed, validated network settings; each default is written here once."""
  channels: int                 # C: width at full resolution; level i has C * 2**i
  blocks: tuple[int, ...]       # IFA blocks per level, encoder and decoder; last = bottleneck
  heads: int                    # attention heads in TCM (image regions -> words)
  text_dim: int                 # d: width words are projected to before TCM
  text_heads: int               # heads of the shared text self-attention layer
  size: str = "small"           # the named size the fields above came from (SIZES)
  levels: int = 3               # resolutions: full, 1/2, 1/4 (inputs: multiple of 2**(levels-1))
  reduction: int = 8            # r: channel/pixel attention squeeze ratio
  text_self_attention: bool = True   # refine words with one self-attention layer
  film: bool = True             # sentence-level FiLM in every TCM
  cross_attention: bool = True  # region -> word cross-attention in every TCM
  tcm_pool: tuple[int, ...] = (4, 2, 1)  # region size per level (pixels pooled per side)
  tcm_upsample: str = "bilinear"         # attended regions back to pixels: bilinear | nearest
  image_self_attention: bool = False     # windowed self-attention over regions inside TCM
  window: int = 8               # window side for image_self_attention (in regions)
  cafb: bool = True             # cross-layer attention fusion in the decoder (else skip add)
  ifa_text: bool = False        # IFA channel attention and CAFB level weights also read the
                                #   sentence vector (zero-initialised: starts as without)
  dtype: str = "float32"        # compute dtype: float32 | bfloat16 (params stay float32)
  conv_kernel_grad: str = "auto"  # k x k kernel gradients: auto | batched | per_example
                                  #   (auto: per image and tile on a one-device CPU; layers.py)

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
    if self.conv_kernel_grad not in layers.KERNEL_GRADS:
      fail("conv_kernel_grad", f"one of {layers.KERNEL_GRADS}, got {self.conv_kernel_grad!r}")

  @classmethod
  def from_config(cls, cfg: ml_collections.ConfigDict | dict) -> "NaLSuperConfig":
    """Validates a `model_config` dict: the size's widths, then every field set."""
    values = dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"config.model: unknown field(s) {unknown}; known: {sorted(known)}")
    size = values.pop("size", "small")
    _check_size(size)
    values = {**SIZES[size], **{k: v for k, v in values.items() if v is not None}}
    for name in ("blocks", "tcm_pool"):
      values[name] = tuple(values.get(name, getattr(cls, name, ())))
    return cls(size=size, **values)

  def resolved(self) -> dict[str, Any]:
    """Every field with its value (what a size set made explicit), e.g. for diffs."""
    return dataclasses.asdict(self)

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
    return self.film or self.cross_attention or self.ifa_text
