"""Tiny network and schedule for tests: same structure as `small`, seconds to run."""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.model.size = "tiny"          # widths from models.SIZES["tiny"]
  config.text.max_len = 16
  config.data.update(dict(crop=32, batch_size=4, prefetch=4))
  config.train.update(dict(steps=12, warmup_steps=2, log_every=2, checkpoint_every=4,
                           eval_every=0, async_checkpoints=False, image_summaries=2))
  config.eval.update(dict(max_images=3, baseline_fit_images=4))
  return config
