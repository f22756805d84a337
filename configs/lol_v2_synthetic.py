"""LOLv2 synthetic (900 train / 100 test) at paper scale: the lol_v1 schedule on `lol_v2/synthetic`."""

import ml_collections

from configs import lol_v1


def get_config() -> ml_collections.ConfigDict:
  config = lol_v1.get_config()
  config.data.name = "lol_v2/synthetic"
  return config
