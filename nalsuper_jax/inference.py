"""The one inference function: encode the prompt, run the network, clip to [0, 1].

`forward_fn(model, text)` is what evaluation, `Enhancer`, `nalsuper-export`
and the benches run. It is a pure function of its arguments, so each owner
decides how it is compiled and how long the compiled program lives (jit for
the lifetime of an `Enhancer` or an `Evaluator`, `jax.export` for a bundle);
nothing is cached globally but JAX's own trace of the text tower
(`text.apply_encoder`, keyed by the tower's config, never by object identity).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from nalsuper_jax.models import NaLSuper
from nalsuper_jax.text import LoadedTextEncoder, apply_encoder

Forward = Callable[[Any, jax.Array, jax.Array, jax.Array], jax.Array]


def forward_fn(model: NaLSuper, text: LoadedTextEncoder | None) -> Forward:
  """(params {"image", "text"}, low [B, H, W, 3] in [0, 1], ids [1|B, L], mask) -> output.

  One prompt (`ids` of batch 1) is broadcast over the images. Text-free
  networks ignore `ids`, `mask` and `params["text"]`.
  """
  def forward(params, low, ids, mask):
    feats = None
    if text is not None:
      feats = apply_encoder(text.module, params["text"], ids, mask)
      feats = jax.tree.map(lambda a: jnp.broadcast_to(a, (low.shape[0],) + a.shape[1:]), feats)
    return model.apply({"params": params["image"]}, low, feats, clip_output=True)
  return forward


def forward_params(image_params: Any, text_params: Any,
                   text: LoadedTextEncoder | None) -> dict[str, Any]:
  """The `params` argument of `forward_fn` (an empty text tree for text-free networks)."""
  return {"image": image_params, "text": text_params if text is not None else {}}


def token_ids(text: LoadedTextEncoder | None, prompt: str) -> tuple[jax.Array, jax.Array]:
  """The prompt's (ids, mask), each [1, L]; placeholders for text-free networks."""
  if text is None:
    return jnp.zeros((1, 1), jnp.int32), jnp.zeros((1, 1), bool)
  ids, mask = text.tokenizer([prompt])
  return jnp.asarray(ids), jnp.asarray(mask)
