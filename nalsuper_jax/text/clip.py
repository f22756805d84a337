"""The CLIP text transformer in Flax, loading Hugging Face CLIP weights.

Pre-LayerNorm causal transformer of Radford et al. (2021); the sentence vector
is the end-of-text token's state after the final LayerNorm and the text
projection, which is what the paper's CLIP text tower provides.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from nalsuper_jax import layers
from nalsuper_jax.text.checkpoint import TorchTensors


@dataclasses.dataclass(frozen=True)
class CLIPTextConfig:
  vocab_size: int
  hidden_size: int
  num_hidden_layers: int
  num_attention_heads: int
  intermediate_size: int
  projection_dim: int
  hidden_act: str = "quick_gelu"
  max_position_embeddings: int = 77
  layer_norm_eps: float = 1e-5
  eos_token_id: int = 2

  @classmethod
  def from_hf(cls, hf: Mapping[str, Any]) -> "CLIPTextConfig":
    """Reads a `clip` (full model) or `clip_text_model` config.json dict."""
    text = dict(hf.get("text_config") or hf)
    if "projection_dim" in hf:
      text["projection_dim"] = hf["projection_dim"]
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names[:6] if n not in text]
    if missing:
      raise ValueError(f"config.json of a CLIP checkpoint lacks {missing}")
    return cls(**{n: text[n] for n in names if n in text})


class CLIPLayer(nn.Module):
  config: CLIPTextConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, mask):
    c = self.config
    d = c.hidden_size
    dense = lambda f, name: layers.dense(f, dtype=self.dtype, name=name)
    h = layers.layer_norm(c.layer_norm_eps, dtype=self.dtype, name="ln1")(x)
    q, k, v = (layers.split_heads(dense(d, n)(h), c.num_attention_heads)
               for n in ("q", "k", "v"))
    x = x + dense(d, "out")(layers.merge_heads(layers.attention(q, k, v, mask)))
    h = layers.layer_norm(c.layer_norm_eps, dtype=self.dtype, name="ln2")(x)
    h = layers.activation(c.hidden_act)(dense(c.intermediate_size, "fc1")(h))
    return x + dense(d, "fc2")(h)


def eos_positions(ids, eos_token_id: int):
  """Index of each caption's end-of-text token, as Hugging Face picks it.

  Old CLIP configs say eos_token_id=2 although the real EOS is the largest id,
  so there (and only there) the argmax of the ids is used.
  """
  if eos_token_id == 2:
    return jnp.argmax(ids, axis=-1)
  return jnp.argmax((ids == eos_token_id).astype(jnp.int32), axis=-1)


class CLIPTextEncoder(nn.Module):
  """ids, mask [B, L] -> (hidden [B, L, D], projected sentence [B, P])."""
  config: CLIPTextConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, ids, mask):
    c = self.config
    length = ids.shape[1]
    if length > c.max_position_embeddings:
      raise ValueError(f"{length} tokens exceed max_position_embeddings="
                       f"{c.max_position_embeddings}")
    emb = lambda n, name: nn.Embed(
        n, c.hidden_size, dtype=self.dtype, name=name,
        embedding_init=layers.partitioned(nn.initializers.normal(0.02),
                                          ("vocab", "embed")))
    x = (emb(c.vocab_size, "token_embedding")(ids)
         + emb(c.max_position_embeddings, "position_embedding")(jnp.arange(length))[None])
    causal = jnp.tril(jnp.ones((length, length), bool))
    att_mask = causal[None, None] & mask.astype(bool)[:, None, None, :]
    for i in range(c.num_hidden_layers):
      x = CLIPLayer(c, self.dtype, name=f"layer_{i}")(x, att_mask)
    x = layers.layer_norm(c.layer_norm_eps, dtype=self.dtype, name="final_ln")(x)
    pooled = x[jnp.arange(x.shape[0]), eos_positions(ids, c.eos_token_id)]
    sentence = layers.dense(c.projection_dim, use_bias=False, dtype=self.dtype,
                            name="text_projection")(pooled)
    return x, sentence


def params_from_hf(tensors: Mapping[str, np.ndarray], config: CLIPTextConfig) -> dict:
  """Converts a CLIP (or CLIP text-only) state dict to our parameter tree."""
  t = TorchTensors(dict(tensors), "CLIP")
  s = "text_model."
  p = {
      "token_embedding": t.embedding(s + "embeddings.token_embedding.weight"),
      "position_embedding": t.embedding(s + "embeddings.position_embedding.weight"),
      "final_ln": t.norm(s + "final_layer_norm"),
      "text_projection": {"kernel": t.get("text_projection.weight").T},
  }
  for i in range(config.num_hidden_layers):
    lp = f"{s}encoder.layers.{i}."
    p[f"layer_{i}"] = {
        "ln1": t.norm(lp + "layer_norm1"),
        "q": t.linear(lp + "self_attn.q_proj"),
        "k": t.linear(lp + "self_attn.k_proj"),
        "v": t.linear(lp + "self_attn.v_proj"),
        "out": t.linear(lp + "self_attn.out_proj"),
        "ln2": t.norm(lp + "layer_norm2"),
        "fc1": t.linear(lp + "mlp.fc1"),
        "fc2": t.linear(lp + "mlp.fc2"),
    }
  return p
