"""The text tower: one interface over our BERT and CLIP encoders.

`TextEncoder` maps token ids to `TextFeatures`; `load_text_encoder` builds it
from a config, with Hugging Face weights and the matching tokenizer.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from nalsuper_jax import tree_shapes
from nalsuper_jax.text import bert, checkpoint, clip
from nalsuper_jax.text.features import TextFeatures
from nalsuper_jax.text.tokenizer import Tokenizer

_KINDS = {"bert": "bert", "clip": "clip", "clip_text_model": "clip"}


def default_config() -> ml_collections.ConfigDict:
  """Text-side settings; `configs/*.py` override them under `config.text`."""
  return ml_collections.ConfigDict(dict(
      # Folder with config.json + model.safetensors, a hub id (online only,
      # e.g. 'openai/clip-vit-base-patch32'), or the offline builtin MiniLM.
      checkpoint=checkpoint.BUILTIN_MINILM,
      max_len=48,               # tokens per caption (CLIP allows 77); content + appearance fit
      normalize_sentence=True,  # L2-normalise the sentence vector
      trainable=False,          # False: frozen (stop_gradient, no optimizer state)
      cache_captions=4096,      # frozen: distinct captions whose features training keeps
                                #   (text/cache.py; 0: the tower runs in every train step)
  ))


class TextEncoder(nn.Module):
  """ids, mask [B, L] -> TextFeatures(words, mask, sentence)."""
  kind: str
  config: Any  # bert.BertConfig | clip.CLIPTextConfig
  normalize_sentence: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, ids: jax.Array, mask: jax.Array) -> TextFeatures:
    mask = mask.astype(bool)
    if self.kind == "bert":
      words = bert.BertEncoder(self.config, self.dtype, name="bert")(ids, mask)
      sentence = bert.masked_mean(words, mask)
    elif self.kind == "clip":
      words, sentence = clip.CLIPTextEncoder(self.config, self.dtype, name="clip")(ids, mask)
    else:
      raise ValueError(f"text encoder kind {self.kind!r}; expected 'bert' or 'clip'")
    if self.normalize_sentence:
      sentence = sentence / jnp.maximum(
          jnp.linalg.norm(sentence.astype(jnp.float32), axis=-1, keepdims=True), 1e-12
      ).astype(sentence.dtype)
    return TextFeatures(words, mask, sentence)


@functools.partial(jax.jit, static_argnums=0)
def apply_encoder(module: TextEncoder, params: Any, ids: jax.Array,
                  mask: jax.Array) -> TextFeatures:
  """The tower's forward, jitted. `module` is static: a Flax module is a hashable
  dataclass, so every loaded encoder of one config shares one trace and one
  program per input shape (a closure per encoder was traced again for each;
  ~0.5 s of Python per trace of MiniLM)."""
  return module.apply({"params": params}, ids, mask)


@dataclasses.dataclass
class LoadedTextEncoder:
  """A text encoder with its weights and tokenizer, ready to encode strings."""
  module: TextEncoder
  params: Any
  tokenizer: Tokenizer

  def encode(self, texts: Sequence[str] | str) -> TextFeatures:
    ids, mask = self.tokenizer(texts)
    return apply_encoder(self.module, self.params, ids, mask)

  @property
  def sentence_dim(self) -> int:
    c = self.module.config
    return c.projection_dim if self.module.kind == "clip" else c.hidden_size


def load_text_encoder(cfg: ml_collections.ConfigDict, dtype=jnp.float32) -> LoadedTextEncoder:
  """Builds the encoder named by `cfg.checkpoint` and loads its weights."""
  folder = checkpoint.resolve(cfg.checkpoint)
  hf_config = checkpoint.read_config(folder)
  model_type = hf_config.get("model_type")
  if model_type not in _KINDS:
    raise checkpoint.CheckpointError(
        f"{folder / 'config.json'}: model_type={model_type!r}; expected one of "
        f"{sorted(_KINDS)}")
  kind = _KINDS[model_type]
  module_lib = bert if kind == "bert" else clip
  config = (bert.BertConfig if kind == "bert" else clip.CLIPTextConfig).from_hf(hf_config)
  params = module_lib.params_from_hf(checkpoint.read_tensors(folder), config)
  params = {kind: jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)}
  module = TextEncoder(kind, config, cfg.normalize_sentence, dtype)
  _check_shapes(module, params, folder)
  return LoadedTextEncoder(module, params, Tokenizer.from_folder(folder, cfg.max_len))


def _check_shapes(module: TextEncoder, params: Any, folder) -> None:
  """Fails loudly if the checkpoint's tensors do not fit its config.json."""
  ids = jnp.zeros((1, 2), jnp.int32)
  expected = nn.meta.unbox(jax.eval_shape(module.init, jax.random.key(0), ids, ids)["params"])
  for d in tree_shapes.differences(params, expected):
    if d.expected is not None:  # extra tensors are never read
      raise checkpoint.CheckpointError(
          f"{folder}: tensor {d.path} has shape {d.found}; config.json implies {d.expected}")
