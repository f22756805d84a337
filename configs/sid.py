"""SID Sony sRGB at 960x512 (Retinexformer protocol) at paper scale: the lol_v1 schedule on `sid/retinexformer`."""

import ml_collections

from configs import lol_v1


def get_config() -> ml_collections.ConfigDict:
  config = lol_v1.get_config()
  config.data.name = "sid/retinexformer"
  return config
