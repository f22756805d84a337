"""Small primitives shared by the text encoders and the image network.

Kept in one place so that the attention arithmetic (and its masking rules) is
written once: the BERT/CLIP parity tests then also vouch for the attention that
TCM uses.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import einops
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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


def sentence_projection(features: int, *, dtype=jnp.float32, name: str | None = None) -> nn.Dense:
  """A Dense from the sentence vector whose kernel and bias start at zero: the
  text enters a path (FiLM, IFA's gates) only as far as training opens it."""
  return dense(features, dtype=dtype, kernel_init=nn.initializers.zeros_init(),
               axes=("text_embed", "embed"), name=name)


# How a convolution's kernel gradient is computed (`config.model.conv_kernel_grad`).
KERNEL_GRADS = ("auto", "batched", "per_example")
# The most pieces the batch is cut into for a per-example kernel gradient (each
# piece is one more convolution in the backward program).
MAX_KERNEL_GRAD_PIECES = 8


class _ConvArgs(NamedTuple):
  """lax.conv_general_dilated's static arguments, hashable for custom_vjp."""
  window_strides: tuple
  padding: Any
  lhs_dilation: Any
  rhs_dilation: Any
  dimension_numbers: Any
  feature_group_count: int
  precision: Any


def _lax_conv(args: _ConvArgs, lhs: Array, rhs: Array) -> Array:
  return jax.lax.conv_general_dilated(lhs, rhs, **args._asdict())


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _conv_split_kernel_grad(args: _ConvArgs, lhs: Array, rhs: Array) -> Array:
  return _lax_conv(args, lhs, rhs)


def _split_fwd(args, lhs, rhs):
  return _lax_conv(args, lhs, rhs), (lhs, rhs)


def _split_bwd(args, residuals, g):
  lhs, rhs = residuals
  d_lhs = jax.vjp(lambda x: _lax_conv(args, x, rhs), lhs)[1](g)[0]
  bounds = np.linspace(0, lhs.shape[0], min(lhs.shape[0], MAX_KERNEL_GRAD_PIECES) + 1).astype(int)
  d_rhs = jnp.zeros(rhs.shape, jnp.float32)
  for a, b in zip(bounds[:-1], bounds[1:]):
    piece = jax.vjp(lambda k: _lax_conv(args, lhs[a:b], k), rhs)[1](g[a:b])[0]
    d_rhs = d_rhs + piece.astype(jnp.float32)
  return d_lhs, d_rhs.astype(rhs.dtype)


_conv_split_kernel_grad.defvjp(_split_fwd, _split_bwd)


def _per_example_pays(mode: str, lhs: Array, rhs: Array, args: _ConvArgs) -> bool:
  """Whether to cut the batch for the kernel gradient.

  XLA's CPU backend computes a k x k kernel gradient as one convolution whose
  contraction runs over the whole batch, and that lowering slows down faster
  than the batch grows; one convolution per piece is faster (the `small`
  train step ~10% at batch 8: `python -m bench.train_step
  --conv_kernel_grads=batched,auto`, BENCHMARKS.md). On accelerators, and
  with a batch split over several devices (slices would move data between
  them), the batched form stays.
  """
  if mode == "batched" or lhs.shape[0] < 2 or max(rhs.shape[:-2], default=1) == 1:
    return False
  if not (args.dimension_numbers is not None and args.dimension_numbers.lhs_spec[0] == 0):
    return False
  return mode == "per_example" or (jax.default_backend() == "cpu" and jax.device_count() == 1)


def conv_general_dilated(kernel_grad: str = "auto") -> Callable[..., Array]:
  """lax.conv_general_dilated whose kernel gradient is computed per batch piece
  where that is faster (`kernel_grad`: "auto", "batched" or "per_example").

  The forward pass and the input gradient are unchanged; the kernel gradient
  is the same sum taken in another order (equal up to float rounding).
  """
  if kernel_grad not in KERNEL_GRADS:
    raise ValueError(f"kernel_grad={kernel_grad!r}: expected one of {KERNEL_GRADS}")

  def conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
           dimension_numbers=None, feature_group_count=1, precision=None):
    args = _ConvArgs(tuple(window_strides),
                     padding if isinstance(padding, str) else tuple(map(tuple, padding)),
                     None if lhs_dilation is None else tuple(lhs_dilation),
                     None if rhs_dilation is None else tuple(rhs_dilation),
                     dimension_numbers, feature_group_count, precision)
    if _per_example_pays(kernel_grad, lhs, rhs, args):
      return _conv_split_kernel_grad(args, lhs, rhs)
    return _lax_conv(args, lhs, rhs)
  return conv


_CONVS = {mode: conv_general_dilated(mode) for mode in KERNEL_GRADS}  # stable identities


def conv(features: int, kernel: int = 3, *, stride: int = 1, dtype=jnp.float32,
         kernel_init: Callable = nn.initializers.lecun_normal(),
         kernel_grad: str = "auto", name: str | None = None) -> nn.Conv:
  """A 'SAME'-padded conv whose kernel and bias carry logical axis names.

  `kernel_grad`: how the kernel gradient is computed (see `conv_general_dilated`).
  """
  return nn.Conv(
      features, (kernel, kernel), strides=(stride, stride), padding="SAME",
      dtype=dtype, name=name, conv_general_dilated=_CONVS[kernel_grad],
      kernel_init=partitioned(kernel_init, (None, None, "conv_in", "conv_out")),
      bias_init=partitioned(nn.initializers.zeros_init(), ("conv_out",)))


def layer_norm(eps: float = 1e-5, *, dtype=jnp.float32,
               name: str | None = None) -> nn.LayerNorm:
  """LayerNorm with named scale/bias (statistics are float32 in flax)."""
  return nn.LayerNorm(
      epsilon=eps, dtype=dtype, name=name,
      scale_init=partitioned(nn.initializers.ones_init(), ("norm",)),
      bias_init=partitioned(nn.initializers.zeros_init(), ("norm",)))
