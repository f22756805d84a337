"""Default experiment: the embedded `synthetic_lowlight` set, `small` network,
offline MiniLM text encoder; minutes on 2 CPU cores (`make demo`).

Every other config starts from this one and overrides what differs.
"""

import dataclasses

import ml_collections
from ml_collections import config_dict

from nalsuper_jax import losses, models, text
from nalsuper_jax.data import degrade


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0                                # all randomness derives from this
  config.model = models.model_config("small")    # the image network (see models/config.py)
  config.text = text.default_config()            # text tower and tokenizer
  config.data = ml_collections.ConfigDict(dict(
      name="synthetic_lowlight",     # TFDS name[/config], e.g. "lol_v1", "lol_v2/real", "sid/retinexformer"
      data_dir=config_dict.placeholder(str),  # TFDS data_dir (None: TFDS's default)
      train_split="train",
      train_exclude=(),              # fnmatch patterns of example names training leaves out
                                     #   (e.g. ("china_*",): photos held out for validation)
      eval_split="test",
      crop=96,                       # training crop side (pixels)
      batch_size=8,                  # global batch; each of N processes reads batch_size / N
      augment=True,                  # random flips and 90-degree rotations
      degrade_on_the_fly=True,       # regenerate `low` from `high` per element (section 7)
      # On-the-fly degradation settings: the fields and defaults of
      # data/degrade.py DegradeConfig (written there once).
      degrade=dataclasses.asdict(degrade.DegradeConfig()),
      caption_appearance=0.1,        # P(caption -> the crop's appearance words only)
      caption_exposure=0.0,          # P(caption -> "a <exposure> photo" of the crop as it is;
                                     #   0.1 -> 0 with default 0.15 -> 0.25, chosen on
                                     #   `bench.quality --split=heldout`: relit targets
                                     #   teach those words)
      caption_swap=0.0,              # P(caption -> another example's content + crop's appearance)
      caption_invented=0.4,          # P(caption -> invented content + crop's appearance:
                                     #   captions.CONTENT_WORDS), so content words do not set
                                     #   the exposure (0.2 -> 0.4 with swap 0.1 -> 0, chosen
                                     #   on `bench.quality --split=unseen`: BENCHMARKS.md)
      caption_relight=0.15,          # P(target re-exposed to a random exposure word, caption
                                     #   "a <word> photo", same input)
      caption_relight_full=False,    # True: a relit target's caption is its content plus
                                     #   its appearance words, not "a <word> photo"
      caption_default=0.25,          # P(caption -> config.eval.default_prompt, target kept):
                                     #   the prompt a user gets means the scene's usual look
      caption_default_as_shot=True,  # that target is the photo as shot, without the
                                     #   re-exposure other captions describe (chosen on
                                     #   `bench.quality --split=validation`: BENCHMARKS.md)
      caption_whole_image=False,     # True: re-described captions describe the whole (re-
                                     #   exposed) target image, as test captions do, not the
                                     #   crop (worse on the demo: BENCHMARKS.md)
      zoom_out=0.0,                  # P(crop from the image scaled to a short side of `crop`:
                                     #   whole-scene views; pipeline.PairedCropFlipRotate)
      num_threads=2,                 # grain in-process reader threads
      prefetch=32,                   # grain prefetch buffer (elements)
      worker_count=0,                # >0: grain worker processes (mp_prefetch)
      reader_nice=19,                # readers' CPU niceness: they yield the cores to the
                                     #   train step (0: same priority; see pipeline.lower_priority)
      log_names=False,               # write each step's example names to
                                     #   <workdir>/data_log/process_<i>.jsonl
  ))
  config.train = ml_collections.ConfigDict(dict(
      steps=2400,                    # optimizer steps (600 -> 1200 chosen on
                                     #   `bench.quality --split=validation`; 1200 -> 2400
                                     #   for the demo's fine-tuning of `demo_start`, chosen
                                     #   on `--split=unseen`: BENCHMARKS.md, candidate L)
      warmup_steps=30,               # linear warmup, then cosine decay
      learning_rate=2e-3,            # peak AdamW learning rate
      end_learning_rate=1e-5,        # cosine decay floor
      weight_decay=1e-4,
      b1=0.9,
      b2=0.999,
      grad_clip=1.0,                 # global-norm clipping (0: off)
      ema_decay=0.0,                 # EMA of params for evaluation (0: off)
      init_from=config_dict.placeholder(str),  # fine-tune: a packaged model's name, a shipped
                                     #   model's or a workdir's folder (None: random init;
                                     #   the names: warm_start.PACKAGED)
      log_every=25,                  # scalars to clu writers every N steps
      checkpoint_every=100,          # Orbax save interval (steps)
      keep_checkpoints=2,            # latest N kept, plus the best by eval PSNR
      async_checkpoints=True,        # save in the background
      eval_every=600,                # periodic evaluation (0: off)
      image_summaries=3,             # low | enhanced | normal pictures per evaluation
  ))
  config.loss = losses.default_config()
  config.eval = ml_collections.ConfigDict(dict(
      default_prompt="a well-exposed photo, normal contrast, neutral white balance, natural colours",
      max_images=config_dict.placeholder(int),  # None: the whole split
      batch_size=4,                  # images of one padded size enhanced together
      baselines=True,                # gamma / CLAHE / oracle exposure beside the network
      baseline_fit_images=32,        # training images used to choose gamma and CLAHE
      save_images=True,              # side-by-side PNGs under <workdir>/eval/<split>/images
  ))
  config.mesh = ml_collections.ConfigDict(dict(
      data=-1,                       # data-parallel axis size (-1: all devices / fsdp)
      fsdp=1,                        # parameter-sharding axis size
  ))
  config.sharding = ml_collections.ConfigDict(dict(
      fsdp=False,                    # shard parameters over the "fsdp" mesh axis
  ))
  config.lock()
  return config
