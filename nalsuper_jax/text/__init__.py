"""Text side: tokenizers, our Flax BERT/CLIP encoders, checkpoint loading."""

from nalsuper_jax.text.cache import FeatureCache, check_cache_captions
from nalsuper_jax.text.checkpoint import BUILTIN_MINILM, CheckpointError
from nalsuper_jax.text.encoder import (LoadedTextEncoder, TextEncoder, apply_encoder,
                                       default_config, load_text_encoder)
from nalsuper_jax.text.features import TextFeatures
from nalsuper_jax.text.tokenizer import Tokenizer

__all__ = ["BUILTIN_MINILM", "CheckpointError", "FeatureCache", "LoadedTextEncoder",
           "TextEncoder", "TextFeatures", "Tokenizer", "apply_encoder", "check_cache_captions",
           "default_config", "load_text_encoder"]
