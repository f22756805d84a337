"""Tiny network for tests: same structure as `small`, a fraction of the width."""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.model.update(dict(size="tiny", channels=8, blocks=(1, 1, 1), heads=2,
                           text_dim=16, text_heads=2))
  config.text.max_len = 16
  return config
