"""The image network and its parts."""

from nalsuper_jax.models.config import SIZES, NaLSuperConfig, model_config
from nalsuper_jax.models.cost import ModelCost, count_params, model_cost
from nalsuper_jax.models.nalsuper import NaLSuper
from nalsuper_jax.models.padding import crop_to, pad_to_multiple
from nalsuper_jax.models.tcm import TCM, TCMConfig, tcm_apply

__all__ = ["SIZES", "NaLSuperConfig", "model_config", "ModelCost", "count_params",
           "model_cost", "NaLSuper", "crop_to", "pad_to_multiple", "TCM", "TCMConfig",
           "tcm_apply"]
