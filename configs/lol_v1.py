"""LOLv1 at paper scale (ARCHITECTURE.md section 8): `base` network with the
CLIP ViT-B/32 text tower, 256x256 crops, batch 8, AdamW 2e-4 with cosine decay
to 1e-6 over 150k steps.

Build the data first:  tfds build tfds_builders/lol_v1 --manual_dir=... --data_dir=...
"""

import ml_collections

from configs import default
from nalsuper_jax import models


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.model.update(models.model_config("base").to_dict())
  # As in the paper: CLIP's text tower, intra-modal image attention in TCM, and
  # IFA that reads the text. Offline, point config.text.checkpoint at a local
  # copy of the weights (README, "Text encoders").
  config.model.update(dict(image_self_attention=True, ifa_text=True))
  config.text.update(dict(checkpoint="openai/clip-vit-base-patch32", max_len=77))
  # The paper trains on its real pairs and captions as given: no caption
  # augmentation, no synthetic re-degradation.
  config.data.update(dict(name="lol_v1", crop=256, batch_size=8, prefetch=64,
                          caption_appearance=0.0, caption_exposure=0.0,
                          caption_swap=0.0, caption_relight=0.0, caption_invented=0.0,
                          caption_default=0.0,
                          degrade_on_the_fly=False))
  config.train.update(dict(steps=150_000, warmup_steps=2_000, learning_rate=2e-4,
                           end_learning_rate=1e-6, weight_decay=1e-4, ema_decay=0.999,
                           log_every=100, checkpoint_every=2_000, keep_checkpoints=3,
                           eval_every=2_000, image_summaries=4))
  config.eval.baseline_fit_images = 64
  return config
