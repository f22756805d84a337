"""Parameter counts and XLA cost estimates of the image network.

XLA's cost analysis counts a multiply-add as 2 FLOPs; LLIE papers quote
multiply-accumulates and call them FLOPs, so both are reported (GMACs =
XLA FLOPs / 2, an approximation that also halves XLA's elementwise ops).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from nalsuper_jax.models.config import NaLSuperConfig
from nalsuper_jax.models.nalsuper import NaLSuper
from nalsuper_jax.text.features import TextFeatures


@dataclasses.dataclass(frozen=True)
class ModelCost:
  params: int          # image-network parameters (text encoder excluded)
  gflops: float        # XLA cost analysis, per image
  gmacs: float         # gflops / 2: the unit LLIE papers call "FLOPs"
  height: int
  width: int


def dummy_text(batch: int = 1, length: int = 32, word_dim: int = 384,
               sentence_dim: int = 384) -> TextFeatures:
  return TextFeatures(jnp.zeros((batch, length, word_dim), jnp.float32),
                      jnp.ones((batch, length), bool),
                      jnp.zeros((batch, sentence_dim), jnp.float32))


def count_params(params) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nn.meta.unbox(params))))


def model_cost(config: NaLSuperConfig | ml_collections.ConfigDict, height: int = 256,
               width: int = 256, text_len: int = 32, word_dim: int = 384,
               sentence_dim: int = 384) -> ModelCost:
  """Counts parameters and compiles one forward pass to read XLA's FLOPs.

  The text encoder is excluded: its features enter as inputs (shapes of the
  default MiniLM encoder unless given).
  """
  if not isinstance(config, NaLSuperConfig):
    config = NaLSuperConfig.from_config(config)
  model = NaLSuper(config)
  low = jax.ShapeDtypeStruct((1, height, width, 3), jnp.float32)
  text = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                      dummy_text(1, text_len, word_dim, sentence_dim))
  params = jax.eval_shape(model.init, jax.random.key(0), low, text)["params"]
  flops = xla_flops(lambda p, x, t: model.apply({"params": p}, x, t), params, low, text)
  return ModelCost(count_params(params), flops / 1e9, flops / 2e9, height, width)


def on_host(tree: Any) -> Any:
  """ShapeDtypeStructs of `tree`'s arrays placed on the host CPU: a jit lowered
  on them is a CPU program, whose XLA analyses it before compilation (the
  accelerator plugins do not: their `Lowered.cost_analysis()` is None)."""
  host = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=host), tree)


def xla_flops(fn, *args) -> float:
  """FLOPs of `fn(*args)` (arrays or ShapeDtypeStructs), lowered for the host
  CPU whatever the default backend (FLOPs do not depend on it); see
  `lowered_flops`."""
  return host_lowered_flops(jax.jit(fn).lower(*on_host(args)))


def host_lowered_flops(lowered: jax.stages.Lowered) -> float:
  """`lowered_flops` of a program lowered for the host CPU, whose XLA always
  has the analysis (a None there is a bug, not a backend without it)."""
  flops = lowered_flops(lowered)
  if flops is None:
    raise RuntimeError("XLA's CPU backend gave no cost analysis of a lowered program")
  return flops


def lowered_flops(lowered: jax.stages.Lowered) -> float | None:
  """FLOPs of a lowered program by XLA's cost analysis of its HLO before backend
  compilation (a multiply-add counts 2), or None where the program's backend
  has no such analysis (PJRT plugins, e.g. CUDA: count a host lowering of the
  same program instead, as `xla_flops` does).

  Counted before compilation so that every backend reports the same number:
  the GPU backend's analysis of the compiled program leaves out convolutions
  (they become cuDNN custom calls) and reported ~6% of the `small` network's
  FLOPs on an H200.
  """
  analysis = lowered.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else None
  return None if analysis is None else float(analysis["flops"])
