"""Synthetic low light from clean sRGB images (ARCHITECTURE.md section 7).

In the style of LOLv2-synthetic / Lv et al.: linearise, optionally re-expose
the target (so targets differ in brightness -- the ambiguity that text
resolves), darken, jitter per-channel gains, optionally tint (a white-balance
error along the warm/cool and green/magenta axes), add Poisson-Gaussian noise
(shot + read) in linear light, return to sRGB, quantise to 8 bits and
optionally JPEG-compress the input as a phone would. Pure NumPy (and Pillow's
JPEG codec) driven by a `np.random.Generator`, so a fixed seed gives the same
pair on any machine. With `cast=0` and `jpeg_probability=0` (the defaults) no
random numbers are drawn for those steps, so older datasets rebuild bit for bit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import io

import grain
import numpy as np
from PIL import Image


@dataclasses.dataclass(frozen=True)
class DegradeConfig:
  target_exposure: tuple[float, float] = (0.7, 1.4)  # factor on the clean image (linear)
  darken: tuple[float, float] = (0.03, 0.25)         # k, sampled log-uniformly
  gain_jitter: float = 0.08                          # per-channel gain in 1 +- this
  photons: tuple[float, float] = (300.0, 3000.0)     # shot noise: photons at linear 1.0 (log-uniform)
  read_noise: tuple[float, float] = (5e-4, 3e-3)     # Gaussian std in linear units
  cast: float = 0.0                  # white-balance error: log-gain up to +-this on the
                                     #   warm/cool (R vs B) and green/magenta axes
  jpeg_probability: float = 0.0      # P(input saved as JPEG) after quantising
  jpeg_quality: tuple[float, float] = (60.0, 95.0)  # JPEG quality, uniform in this range

  @classmethod
  def from_config(cls, cfg) -> "DegradeConfig":
    """From a mapping of the same fields (config.data.degrade); names bad ones."""
    values = dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"config.data.degrade: unknown field(s) {unknown}; known: {sorted(known)}")
    out = {k: (tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else float(v))
           for k, v in values.items()}
    for name, value in out.items():
      if isinstance(value, tuple) and (len(value) != 2 or not 0 < value[0] <= value[1]):
        raise ValueError(f"config.data.degrade.{name}={value}: expected (low, high) "
                         "with 0 < low <= high")
    bounds = {"gain_jitter": (0.0, 0.9), "cast": (0.0, 1.0), "jpeg_probability": (0.0, 1.0)}
    for name, (lo, hi) in bounds.items():
      if name in out and not lo <= out[name] <= hi:
        raise ValueError(f"config.data.degrade.{name}={out[name]}: expected {lo} <= value <= {hi}")
    if "jpeg_quality" in out and out["jpeg_quality"][1] > 100:
      raise ValueError(f"config.data.degrade.jpeg_quality={out['jpeg_quality']}: expected "
                       "qualities in 1..100")
    return cls(**out)


# Camera-like levels for models meant for real photos (configs/pretrained.py and
# the real_photos test split): casts of up to ~+-10% per axis, as auto white
# balance misses under mixed light, and a third of inputs JPEG-compressed at
# phone qualities. Noise levels are the defaults above (shot noise of 300-3000
# photons at full scale, read noise 0.05-0.3% of full scale: phone sensors at
# ISO 800-6400 after the darkening).
CAMERA = DegradeConfig(gain_jitter=0.05, cast=0.1, jpeg_probability=0.33,
                       jpeg_quality=(70.0, 95.0))


def without_reexposure(config: DegradeConfig) -> DegradeConfig:
  """`config` without re-exposure: the target is the clean image itself."""
  return dataclasses.replace(config, target_exposure=(1.0, 1.0))


# The same camera without re-exposure, so the reference is the photo itself:
# how held-out photos are darkened (real_photos' test split, bench.real_photos).
CAMERA_AS_SHOT = without_reexposure(CAMERA)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
  return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
  x = np.clip(x, 0.0, 1.0)
  return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _quantise(x: np.ndarray) -> np.ndarray:
  return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
  lo, hi = bounds
  return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _cast_gains(rng: np.random.Generator, strength: float) -> np.ndarray:
  """Per-channel gains of a white-balance error: warm/cool moves R against B,
  green/magenta moves G against R and B; geometric mean 1 (brightness kept)."""
  warm, green = rng.uniform(-strength, strength, size=2)
  return np.exp(np.array([warm - green / 3, 2 * green / 3, -warm - green / 3]))


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
  """uint8 RGB -> the same after a JPEG round trip at `quality` (4:2:0, as cameras)."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
  return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def reexpose(image: np.ndarray, gain: float) -> np.ndarray:
  """uint8 sRGB image with its linear light scaled by `gain` (clipped), as uint8."""
  return _quantise(linear_to_srgb(srgb_to_linear(image.astype(np.float32) / 255.0) * gain))


def degrade(clean: np.ndarray, rng: np.random.Generator,
            config: DegradeConfig = DegradeConfig()) -> tuple[np.ndarray, np.ndarray]:
  """uint8 RGB clean image -> (low, high) uint8 pair of the same size."""
  low, high, _ = degrade_with_exposure(clean, rng, config)
  return low, high


def degrade_with_exposure(clean: np.ndarray, rng: np.random.Generator,
                          config: DegradeConfig = DegradeConfig()
                          ) -> tuple[np.ndarray, np.ndarray, float]:
  """`degrade`, also returning the factor the target's linear light was scaled
  by (so a view of the whole image can be re-exposed alike: `reexpose`)."""
  lin = srgb_to_linear(clean.astype(np.float32) / 255.0)
  exposure = float(rng.uniform(*config.target_exposure))
  high_lin = np.clip(lin * exposure, 0.0, 1.0)
  gains = 1.0 + rng.uniform(-config.gain_jitter, config.gain_jitter, size=3)
  if config.cast > 0:
    gains = gains * _cast_gains(rng, config.cast)
  dark = high_lin * _log_uniform(rng, config.darken) * gains
  photons = _log_uniform(rng, config.photons)
  noisy = rng.poisson(np.clip(dark, 0, None) * photons) / photons
  noisy = noisy + rng.normal(0.0, rng.uniform(*config.read_noise), size=dark.shape)
  low = _quantise(linear_to_srgb(noisy))
  if config.jpeg_probability > 0 and rng.uniform() < config.jpeg_probability:
    low = jpeg(low, round(rng.uniform(*config.jpeg_quality)))
  return low, _quantise(linear_to_srgb(high_lin)), exposure


# The element key under which `SyntheticLowLight(keep_as_shot=True)` keeps the
# clean image before re-exposure (a target for prompts that mean "as shot").
AS_SHOT = "as_shot"


class SyntheticLowLight(grain.transforms.RandomMap):
  """grain transform: an element's clean `image_key` -> fresh `low`/`high`.

  For on-the-fly pairs from any clean image set; grain seeds `rng` per
  element, so the pairs are reproducible and resume exactly. An element's
  `context` (a view of the whole image a crop came from, which captions
  describe) is re-exposed as the target is. `keep_as_shot` also keeps the
  clean image, un-re-exposed, under `AS_SHOT` (draws no random numbers).
  """

  def __init__(self, config: DegradeConfig = DegradeConfig(), image_key: str = "high",
               keep_as_shot: bool = False):
    self.config = config
    self.image_key = image_key
    self.keep_as_shot = keep_as_shot

  def random_map(self, element: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    low, high, exposure = degrade_with_exposure(np.asarray(element[self.image_key]), rng,
                                                self.config)
    out = {**element, "low": low, "high": high}
    if self.keep_as_shot:
      out[AS_SHOT] = np.asarray(element[self.image_key])
    if "context" in element:
      out["context"] = reexpose(np.asarray(element["context"]), exposure)
    return out
