"""Default experiment: `small` network, offline MiniLM text encoder.

Every other config starts from this one and overrides what differs.
"""

import ml_collections

from nalsuper_jax import models, text


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0                                # all randomness derives from this
  config.model = models.model_config("small")    # the image network (see models/config.py)
  config.text = text.default_config()            # text tower and tokenizer
  return config
