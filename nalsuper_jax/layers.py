"""Small primitives shared by the text encoders and the image network.

Kept in one place so that the attention arithmetic (and its masking rules) is
written once: the BERT/CLIP parity tests then also vouch for the attention that
TCM uses.
"""

from __future__ import annotations

from typing import Callable, Sequence

import einops
import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


def activation(name: str) -> Callable[[Array], Array]:
  """Maps a Hugging Face `hidden_act` string to a JAX function."""
  table = {
      "gelu": lambda x: jax.nn.gelu(x, approximate=False),
      "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
      "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
      "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
      "relu": jax.nn.relu,
      "silu": jax.nn.silu,
      "swish": jax.nn.silu,
  }
  if name not in table:
    raise ValueError(
        f"hidden_act={name!r} is not supported; expected one of {sorted(table)}")
  return table[name]


def split_heads(x: Array, heads: int) -> Array:
  """[..., N, heads * Dh] -> [..., heads, N, Dh]."""
  if x.shape[-1] % heads:
    raise ValueError(f"width {x.shape[-1]} is not divisible by heads={heads}")
  return einops.rearrange(x, "... n (h d) -> ... h n d", h=heads)


def merge_heads(x: Array) -> Array:
  """[..., heads, N, Dh] -> [..., N, heads * Dh]."""
  return einops.rearrange(x, "... h n d -> ... n (h d)")


def attention(q: Array, k: Array, v: Array, mask: Array | None) -> Array:
  """Scaled dot-product attention over heads, with a boolean `mask`.

  q: [..., H, Nq, Dh]; k, v: [..., H, Nk, Dh]; mask broadcastable to
  [..., H, Nq, Nk], True where a key may be attended. Logits and softmax run
  in float32 whatever the compute dtype. A query whose keys are all masked
  gets a zero output instead of NaN (an empty caption must not poison the
  image features).
  """
  scale = q.shape[-1] ** -0.5
  logits = jnp.einsum("...qd,...kd->...qk", q, k,
                      preferred_element_type=jnp.float32) * scale
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
  weights = jax.nn.softmax(logits, axis=-1)
  if mask is not None:
    weights = jnp.where(mask, weights, 0.0)
  return jnp.einsum("...qk,...kd->...qd", weights.astype(v.dtype), v)


def partitioned(init: Callable, names: Sequence[str | None]) -> Callable:
  """Attaches logical axis names (see `nalsuper_jax.sharding`) to an init."""
  return nn.with_logical_partitioning(init, tuple(names))


def dense(features: int, *, use_bias: bool = True, dtype=jnp.float32,
          kernel_init: Callable = nn.initializers.lecun_normal(),
          axes: tuple[str | None, str | None] = ("embed", "mlp"),
          name: str | None = None) -> nn.Dense:
  """A Dense layer whose kernel and bias carry logical axis names."""
  return nn.Dense(
      features, use_bias=use_bias, dtype=dtype, name=name,
      kernel_init=partitioned(kernel_init, axes),
      bias_init=partitioned(nn.initializers.zeros_init(), axes[1:]))


def conv(features: int, kernel: int = 3, *, stride: int = 1, dtype=jnp.float32,
         kernel_init: Callable = nn.initializers.lecun_normal(),
         name: str | None = None) -> nn.Conv:
  """A 'SAME'-padded conv whose kernel and bias carry logical axis names."""
  return nn.Conv(
      features, (kernel, kernel), strides=(stride, stride), padding="SAME",
      dtype=dtype, name=name,
      kernel_init=partitioned(kernel_init, (None, None, "conv_in", "conv_out")),
      bias_init=partitioned(nn.initializers.zeros_init(), ("conv_out",)))


def layer_norm(eps: float = 1e-5, *, dtype=jnp.float32,
               name: str | None = None) -> nn.LayerNorm:
  """LayerNorm with named scale/bias (statistics are float32 in flax)."""
  return nn.LayerNorm(
      epsilon=eps, dtype=dtype, name=name,
      scale_init=partitioned(nn.initializers.ones_init(), ("norm",)),
      bias_init=partitioned(nn.initializers.zeros_init(), ("norm",)))
