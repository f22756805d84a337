"""A BERT encoder in Flax that loads Hugging Face `BertModel` weights.

Post-LayerNorm transformer as in Devlin et al. (2019). Used with
all-MiniLM-L6-v2 as the offline default; sentence vectors are the masked mean
of the last hidden states, as sentence-transformers computes them. No dropout:
the encoder is frozen by default, and a trainable one is fine-tuned gently.
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
class BertConfig:
  vocab_size: int
  hidden_size: int
  num_hidden_layers: int
  num_attention_heads: int
  intermediate_size: int
  hidden_act: str = "gelu"
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  layer_norm_eps: float = 1e-12

  @classmethod
  def from_hf(cls, hf: Mapping[str, Any]) -> "BertConfig":
    """Reads the fields we need from a `config.json` dict."""
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names[:5] if n not in hf]
    if missing:
      raise ValueError(f"config.json of a BERT checkpoint lacks {missing}")
    if hf.get("position_embedding_type", "absolute") != "absolute":
      raise ValueError("only position_embedding_type='absolute' is supported, "
                       f"got {hf['position_embedding_type']!r}")
    return cls(**{n: hf[n] for n in names if n in hf})


class BertLayer(nn.Module):
  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, mask):
    c = self.config
    d = c.hidden_size
    dense = lambda f, name: layers.dense(f, dtype=self.dtype, name=name)
    q, k, v = (layers.split_heads(dense(d, n)(x), c.num_attention_heads)
               for n in ("query", "key", "value"))
    att = layers.merge_heads(layers.attention(q, k, v, mask[:, None, None, :]))
    x = layers.layer_norm(c.layer_norm_eps, dtype=self.dtype,
                          name="attention_ln")(x + dense(d, "attention_out")(att))
    h = layers.activation(c.hidden_act)(dense(c.intermediate_size, "intermediate")(x))
    return layers.layer_norm(c.layer_norm_eps, dtype=self.dtype,
                             name="output_ln")(x + dense(d, "output")(h))


class BertEncoder(nn.Module):
  """ids, mask [B, L] -> last hidden states [B, L, D]."""
  config: BertConfig
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, ids, mask):
    c = self.config
    emb = lambda n, name: nn.Embed(
        n, c.hidden_size, dtype=self.dtype, name=name,
        embedding_init=layers.partitioned(nn.initializers.normal(0.02),
                                          ("vocab", "embed")))
    length = ids.shape[1]
    if length > c.max_position_embeddings:
      raise ValueError(f"{length} tokens exceed max_position_embeddings="
                       f"{c.max_position_embeddings}")
    x = (emb(c.vocab_size, "word_embeddings")(ids)
         + emb(c.max_position_embeddings, "position_embeddings")(jnp.arange(length))[None]
         + emb(c.type_vocab_size, "token_type_embeddings")(jnp.zeros_like(ids)))
    x = layers.layer_norm(c.layer_norm_eps, dtype=self.dtype, name="embeddings_ln")(x)
    for i in range(c.num_hidden_layers):
      x = BertLayer(c, self.dtype, name=f"layer_{i}")(x, mask.astype(bool))
    return x


def masked_mean(hidden, mask):
  """Mean over real tokens: sentence-transformers' default pooling."""
  m = mask.astype(hidden.dtype)[..., None]
  return (hidden * m).sum(1) / jnp.maximum(m.sum(1), 1.0)


def params_from_hf(tensors: Mapping[str, np.ndarray], config: BertConfig) -> dict:
  """Converts a `BertModel` state dict (torch layout) to our parameter tree.

  Accepts checkpoints saved from `BertModel` and from task heads (`bert.`
  prefix), and the old `gamma`/`beta` LayerNorm names.
  """
  renamed = {}
  for key, value in tensors.items():
    key = key.removeprefix("bert.")
    key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
        "LayerNorm.beta", "LayerNorm.bias")
    renamed[key] = value
  t = TorchTensors(renamed, "BERT")
  p = {
      "word_embeddings": t.embedding("embeddings.word_embeddings.weight"),
      "position_embeddings": t.embedding("embeddings.position_embeddings.weight"),
      "token_type_embeddings": t.embedding("embeddings.token_type_embeddings.weight"),
      "embeddings_ln": t.norm("embeddings.LayerNorm"),
  }
  for i in range(config.num_hidden_layers):
    s = f"encoder.layer.{i}."
    p[f"layer_{i}"] = {
        "query": t.linear(s + "attention.self.query"),
        "key": t.linear(s + "attention.self.key"),
        "value": t.linear(s + "attention.self.value"),
        "attention_out": t.linear(s + "attention.output.dense"),
        "attention_ln": t.norm(s + "attention.output.LayerNorm"),
        "intermediate": t.linear(s + "intermediate.dense"),
        "output": t.linear(s + "output.dense"),
        "output_ln": t.norm(s + "output.LayerNorm"),
    }
  return p
