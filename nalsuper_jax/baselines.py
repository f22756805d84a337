"""Classical baselines evaluated beside the network, on the same images.

gamma: low ** (1 / g), one g chosen on the training split; clahe: CLAHE on
the luminance-preserving RGB image, its clip limit chosen on the training
split; oracle_exposure: the global gain that matches each target's mean --
an oracle (it looks at the target), labelled so in every report.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from nalsuper_jax import metrics

GAMMAS = tuple(np.round(np.arange(1.0, 6.01, 0.25), 2))
CLAHE_CLIP_LIMITS = (0.005, 0.01, 0.02, 0.04, 0.08)


def gamma(low: np.ndarray, g: float) -> np.ndarray:
  return np.power(low, 1.0 / g)


def clahe(low: np.ndarray, clip_limit: float) -> np.ndarray:
  # scikit-image takes ~1 s to import; only the CLAHE baseline needs it.
  from skimage import exposure  # pylint: disable=import-outside-toplevel
  return exposure.equalize_adapthist(low, clip_limit=clip_limit)


def oracle_exposure(low: np.ndarray, high8: np.ndarray) -> np.ndarray:
  """low float in [0, 1], high8 uint8: the gain that matches the target's mean."""
  target_mean = float(high8.mean()) / 255.0
  return np.clip(low * (target_mean / max(float(low.mean()), 1e-6)), 0, 1)


def _best(candidates: Sequence[float], method: Callable, pairs) -> float:
  scores = [np.mean([metrics.psnr(metrics.to_uint8(method(lo, c)), hi8) for lo, hi8 in pairs])
            for c in candidates]
  return float(candidates[int(np.argmax(scores))])


def fit(train_pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
  """Chooses gamma and the CLAHE clip limit by mean PSNR on training pairs.

  train_pairs: (low float [0, 1], high uint8) tuples.
  """
  pairs = list(train_pairs)
  return {"gamma": _best(GAMMAS, gamma, pairs), "clahe_clip_limit": _best(CLAHE_CLIP_LIMITS, clahe, pairs)}


def outputs(low: np.ndarray, high8: np.ndarray, params: dict[str, float]
            ) -> dict[str, np.ndarray]:
  """Every baseline's output for one image: low float [0, 1], high8 uint8."""
  return {"gamma": gamma(low, params["gamma"]), "clahe": clahe(low, params["clahe_clip_limit"]),
          "oracle_exposure": oracle_exposure(low, high8)}
