"""Small primitives shared by the text encoders and the image network.

Kept in one place so that the attention arithmetic (and its masking rules) is
written once: the BERT/CLIP parity tests then also vouch for the attention that
TCM uses.
"""

from __future__ import annotations

import functools
import itertools
import math
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
# The most pieces (images or image tiles) a kernel gradient is cut into; each
# piece is one more convolution in the backward program (compile time).
MAX_KERNEL_GRAD_PIECES = 64
# A tile's input holds about this many values (side^2 x input features, the
# side a power of two): XLA's CPU kernel gradient of a 128x128x32 image ran
# 2.5x faster as four 64x64 tiles, of 64x64x64 2x faster as 32x32 tiles
# (8 images, 2 cores); 32x32x128 was fastest whole.
KERNEL_GRAD_TILE_VALUES = 2 ** 17
# Fewest output features for which `auto` cuts the batch: per piece, the
# 32 -> 3 reconstruction head's kernel gradient ran ~9x slower than batched
# (8x128x128, 2 cores), while 3 -> 32 and 32 -> 32 ran faster.
MIN_PER_EXAMPLE_FEATURES = 8


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


def _channels_last(ndim: int, args: _ConvArgs) -> bool:
  dims = args.dimension_numbers
  return (dims is not None and tuple(dims.lhs_spec) == (0, ndim - 1, *range(1, ndim - 1))
          and tuple(dims.out_spec) == tuple(dims.lhs_spec)
          and tuple(dims.rhs_spec) == (ndim - 1, ndim - 2, *range(ndim - 2)))


def _tile_side(features: int) -> int:
  """Output tile side for a kernel gradient with `features` input features."""
  return 2 ** max(0, round(math.log2(math.sqrt(KERNEL_GRAD_TILE_VALUES / features))))


def _kernel_grad_pieces(batch: int, out_spatial: Sequence[int], features: int,
                        tiled: bool) -> list[tuple[slice, tuple[slice, ...]]]:
  """(batch slice, output-tile slices) pieces covering the output, at most
  MAX_KERNEL_GRAD_PIECES: images first, then tiles as large as the cap needs."""
  groups = min(batch, MAX_KERNEL_GRAD_PIECES)
  edges = np.linspace(0, batch, groups + 1).astype(int)
  batches = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
  side = _tile_side(features) if tiled else max(out_spatial, default=1)
  while groups * math.prod(-(-n // side) for n in out_spatial) > MAX_KERNEL_GRAD_PIECES:
    side *= 2
  tiles = itertools.product(*[[slice(a, min(a + side, n)) for a in range(0, n, side)]
                              for n in out_spatial])
  return [(b, t) for t in tiles for b in batches]


def _undilated(args: _ConvArgs) -> bool:
  return all(d is None or all(v == 1 for v in d) for d in (args.lhs_dilation, args.rhs_dilation))


def _strided_2d(lhs: Array, args: _ConvArgs) -> bool:
  """A strided, undilated, ungrouped NHWC/HWIO convolution with no negative padding."""
  return (lhs.ndim == 4 and _channels_last(4, args) and any(s > 1 for s in args.window_strides)
          and _undilated(args) and args.feature_group_count == 1
          and (isinstance(args.padding, str) or all(lo >= 0 for lo, _ in args.padding)))


def _strided_input_grad(args: _ConvArgs, lhs: Array, rhs: Array, g: Array) -> Array:
  """The input gradient of a strided convolution, through its space-to-depth form.

  A k x k convolution with stride s reads pixel s*i + a for output i and tap
  a = s*q + r; with the padded input's s x s blocks stacked as channels (tap
  offset r inside them) it is a stride-1 convolution of ceil(k/s) taps over
  the blocks, whose kernel is the original one zero-padded to a multiple of s
  and regrouped. XLA's CPU backend runs the strided form's input gradient as
  a convolution over an input dilated with zeros, on one thread; the stride-1
  form's is an ordinary convolution (the `small` train step at 8x128x128:
  1.06-1.21x faster, BENCHMARKS.md). Only the input gradient: the kernel
  gradient and the forward pass ran slower over the blocks. Same sum, other
  order.
  """
  strides, kernel = args.window_strides, rhs.shape[:2]
  pads = (jax.lax.padtype_to_pads(lhs.shape[1:3], kernel, strides, args.padding)
          if isinstance(args.padding, str) else args.padding)
  taps = [-(-k // s) for k, s in zip(kernel, strides)]
  # The padded input that the outputs read, in whole blocks (cut or zero-extended).
  length = [(o + t - 1) * s for o, t, s in zip(g.shape[1:3], taps, strides)]
  w = jnp.pad(rhs, [(0, t * s - k) for t, s, k in zip(taps, strides, kernel)] + [(0, 0)] * 2)
  w = einops.rearrange(w, "(p a) (q b) c o -> p q (a b c) o", a=strides[0], b=strides[1])
  blocks = jax.ShapeDtypeStruct(
      (lhs.shape[0], length[0] // strides[0], length[1] // strides[1],
       strides[0] * strides[1] * lhs.shape[3]), lhs.dtype)
  stride_one = args._replace(window_strides=(1, 1), padding="VALID")
  d_blocks = jax.linear_transpose(lambda x: _lax_conv(stride_one, x, w), blocks)(g)[0]
  d_padded = einops.rearrange(d_blocks, "n h w (a b c) -> n (h a) (w b) c",
                              a=strides[0], b=strides[1])
  # Padded position p is input pixel p - lo; positions past `length` are never read.
  return jax.lax.pad(d_padded, jnp.zeros((), d_padded.dtype),
                     [(0, 0, 0)] + [(-lo, lo + n - size, 0) for (lo, _), n, size
                                    in zip(pads, lhs.shape[1:3], length)] + [(0, 0, 0)])


def _split_bwd(args, residuals, g):
  lhs, rhs = residuals
  if _strided_2d(lhs, args):
    d_lhs = _strided_input_grad(args, lhs, rhs, g)
  else:
    d_lhs = jax.linear_transpose(lambda x: _lax_conv(args, x, rhs), lhs)(g)[0]
  spatial = lhs.ndim - 2
  tiled = _channels_last(lhs.ndim, args) and args.lhs_dilation in (None, (1,) * spatial)
  if tiled:  # tiles read overlapping windows of the explicitly padded input
    kernel = rhs.shape[:spatial]
    dilation = args.rhs_dilation or (1,) * spatial
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    pads = (jax.lax.padtype_to_pads(lhs.shape[1:-1], extent, args.window_strides, args.padding)
            if isinstance(args.padding, str) else args.padding)
    lhs = jnp.pad(lhs, [(0, 0), *pads, (0, 0)])
    args = args._replace(padding="VALID")
  d_rhs = jnp.zeros(rhs.shape, jnp.float32)
  for batch, tile in _kernel_grad_pieces(lhs.shape[0], g.shape[1:-1] if tiled else (),
                                         lhs.shape[-1], tiled):
    window = tuple(slice(t.start * s, (t.stop - 1) * s + e)
                   for t, s, e in zip(tile, args.window_strides, extent)) if tiled else ()
    x, dy = lhs[(batch, *window)], g[(batch, *tile)]
    piece = jax.linear_transpose(lambda k, x=x: _lax_conv(args, x, k), rhs)(dy)[0]
    d_rhs = d_rhs + piece.astype(jnp.float32)
  return d_lhs, d_rhs.astype(rhs.dtype)


_conv_split_kernel_grad.defvjp(_split_fwd, _split_bwd)


def _per_example_pays(mode: str, lhs: Array, rhs: Array, args: _ConvArgs) -> bool:
  """Whether to cut the kernel gradient into pieces (images, then tiles).

  XLA's CPU backend computes a k x k kernel gradient as one convolution whose
  window is the whole batch of images, and that lowering slows down faster
  than the image grows; one convolution per image, or per tile of an image,
  is faster (`_kernel_grad_pieces`; BENCHMARKS.md has the profile). On
  accelerators, and with a batch split over several devices (slices would
  move data between them), the batched form stays, and so it does for a
  kernel with few output features (`MIN_PER_EXAMPLE_FEATURES`).
  """
  if mode == "batched" or max(rhs.shape[:-2], default=1) == 1:
    return False
  if not (args.dimension_numbers is not None and args.dimension_numbers.lhs_spec[0] == 0):
    return False
  if mode == "per_example":
    return True
  out_features = rhs.shape[args.dimension_numbers.rhs_spec[0]]
  return (out_features >= MIN_PER_EXAMPLE_FEATURES and jax.default_backend() == "cpu"
          and jax.device_count() == 1)


def _is_pointwise(lhs: Array, rhs: Array, args: _ConvArgs) -> bool:
  """A 1x1, stride-1, undilated, ungrouped convolution in channels-last layout."""
  return (_channels_last(lhs.ndim, args) and all(k == 1 for k in rhs.shape[:-2])
          and all(s == 1 for s in args.window_strides) and args.feature_group_count == 1
          and _undilated(args)
          and (isinstance(args.padding, str) or all(p == (0, 0) for p in args.padding)))


def _pointwise(lhs: Array, rhs: Array, precision: Any) -> Array:
  """A 1x1 convolution as the matrix product it is.

  Same sum as the convolution, but XLA's CPU backend lowers a 1x1 kernel
  gradient as a convolution whose window is the whole image, at a few
  GFLOP/s (in the `small` train step at 128x128 one such 0.5 GFLOP gradient
  took 95 ms; profiled with `jax.profiler`, BENCHMARKS.md). As a dot the
  gradient is a dot too.
  """
  return jax.lax.dot_general(lhs, rhs.reshape(rhs.shape[-2:]),
                             (((lhs.ndim - 1,), (0,)), ((), ())), precision=precision)


# Input features of a k x k convolution are zero-padded to a multiple of this.
# XLA's CPU backend runs the 3 -> 32 stem about 4x faster with a fourth, zero
# channel (1x400x600, 2 cores): the zeros add nothing to the sum.
IN_FEATURE_MULTIPLE = 4


def _pad_in_features(lhs: Array, rhs: Array, args: _ConvArgs) -> tuple[Array, Array]:
  """(lhs, rhs) with the input features zero-padded to IN_FEATURE_MULTIPLE
  (channels-last, ungrouped convolutions only)."""
  n = lhs.ndim
  c = lhs.shape[-1]
  if (args.feature_group_count != 1 or c % IN_FEATURE_MULTIPLE == 0
      or not _channels_last(n, args)):
    return lhs, rhs
  extra = -c % IN_FEATURE_MULTIPLE
  lhs = jnp.pad(lhs, [(0, 0)] * (n - 1) + [(0, extra)])
  rhs = jnp.pad(rhs, [(0, 0)] * (n - 2) + [(0, extra), (0, 0)])
  return lhs, rhs


def conv_general_dilated(kernel_grad: str = "auto") -> Callable[..., Array]:
  """lax.conv_general_dilated, lowered where XLA's own lowering is slow.

  A 1x1 convolution runs as a matrix product (`_pointwise`); input features
  are zero-padded to a multiple of IN_FEATURE_MULTIPLE; a k x k kernel
  gradient is computed per batch piece where that is faster (`kernel_grad`:
  "auto", "batched" or "per_example"). Either way the result is the same sum
  taken in another order (equal up to float rounding).
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
    if _is_pointwise(lhs, rhs, args):
      return _pointwise(lhs, rhs, precision)
    lhs, rhs = _pad_in_features(lhs, rhs, args)
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
