"""The shipped model's recipe (`make pretrained`): `small` network, offline
MiniLM text tower, real photos from Debian packages and wheels
(`real_photos`) darkened on the fly like a phone camera (`degrade.CAMERA`:
shot + read noise in linear light, per-channel gains, white-balance casts,
JPEG); a caption mix with invented content and the default prompt, and a local
detail-energy term in the loss (`w_detail`). 7200 steps: 1 h 46 min on a
2-core AMD EPYC with AVX-512, other jobs sharing the cores (model card);
rerunning resumes.

Build the data first:  make photos && tfds build tfds_builders/real_photos \
    --manual_dir=workdirs/photos --data_dir=<dir>
"""

import dataclasses

import ml_collections

from configs import default
from nalsuper_jax.data import degrade


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.data.update(dict(name="real_photos", crop=128, batch_size=8, prefetch=32,
                          degrade=dataclasses.asdict(degrade.CAMERA),
                          # the demo's evaluation photos (held-out and test) that
                          # real_photos also holds, so the demo can start from these
                          # weights (`train.init_from="shipped"`) and still be scored
                          # on photos they never saw (BENCHMARKS.md, candidate X)
                          train_exclude=("china", "grace_hopper", "coffee", "flower"),
                          # the caption mix both shipped weights trained with: the
                          # demo's until its fine-tuning moved to invented 0.4 / swap 0,
                          # chosen for that fine-tuning only (BENCHMARKS.md, "Nine
                          # unseen photos"); a pretraining was not judged with it
                          caption_invented=0.2, caption_swap=0.1))
  # Denoising with pixel losses alone smoothed detail away (high-frequency
  # energy 44% of the references' in the first shipped weights; model card).
  # 2.0 chosen among 0.5 / 1.0 / 2.0 on `bench.real_photos --split=validation`.
  config.loss.update(dict(w_detail=2.0))
  # 7200 steps (with as-shot default targets), not 2400: 23.88 against 22.66 dB with
  # the default prompt on `bench.real_photos --split=validation` (BENCHMARKS.md,
  # "Real photos"; 1200 -> 2400 steps had given 21.95 -> 22.66).
  config.train.update(dict(steps=7200, warmup_steps=100, learning_rate=2e-3,
                           end_learning_rate=1e-5, ema_decay=0.995, log_every=50,
                           checkpoint_every=100, keep_checkpoints=2, eval_every=600))
  config.eval.update(dict(baseline_fit_images=32))
  return config
