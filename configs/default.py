"""Default experiment: `small` network, offline MiniLM text encoder.

Every other config starts from this one and overrides what differs.
"""

import ml_collections
from ml_collections import config_dict

from nalsuper_jax import models, text


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0                                # all randomness derives from this
  config.model = models.model_config("small")    # the image network (see models/config.py)
  config.text = text.default_config()            # text tower and tokenizer
  config.data = ml_collections.ConfigDict(dict(
      name="synthetic_lowlight",     # TFDS name[/config], e.g. "lol_v1", "lol_v2/real", "sid/retinexformer"
      data_dir=config_dict.placeholder(str),  # TFDS data_dir (None: TFDS's default)
      train_split="train",
      eval_split="test",
      crop=128,                      # training crop side (pixels)
      batch_size=8,                  # global batch; each of N processes reads batch_size / N
      augment=True,                  # random flips and 90-degree rotations
      degrade_on_the_fly=False,      # regenerate `low` from `high` per element (section 7)
      num_threads=2,                 # grain in-process reader threads
      prefetch=32,                   # grain prefetch buffer (elements)
      worker_count=0,                # >0: grain worker processes (mp_prefetch)
  ))
  return config
