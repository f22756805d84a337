"""`Enhancer`: a trained NaLSuper as a function on NumPy images, with prompts.

    enhancer = Enhancer.pretrained()          # or .from_workdir("workdirs/demo/default")
    bright = enhancer(photo_uint16, prompt="a bright photo, neutral white balance")

Any size in, same size out: inputs are reflect-padded up to the next
multiple of `granule` (by default 16 pixels, or its least common multiple
with the network's multiple) and cropped back, so a folder of mixed photo
sizes compiles one program per 16-pixel size class rather than one per size. Images with more
than `tile` pixels on a side (`default_tile`: 1024 on a CPU, 2048 on an
accelerator) are cut into as few overlapping tiles as
`tile` allows, each no bigger than it must be to cover the photo
(`tiling.tile_side`), blended without seams, so peak memory is set by the
tile, not the photo, and tiling costs little more per pixel than a whole
image. Compiled programs live for the Enhancer's lifetime and, through
JAX's persistent compilation cache (`nalsuper_jax.compile_cache`), across
processes; each prompt is encoded once and cached.
"""

from __future__ import annotations

import logging
import math
import pathlib
import time
from typing import Any

import jax
import numpy as np

from nalsuper_jax import checkpoints, compile_cache, inference, shipped
from nalsuper_jax.data import captions
from nalsuper_jax.enhance import photo_io, tiling
from nalsuper_jax.models import NaLSuper, pad_to_multiple
from nalsuper_jax.text import LoadedTextEncoder

log = logging.getLogger(__name__)

DEFAULT_TILE = 1024     # largest tile side on a CPU: bounds peak memory (4K photo < 3 GiB RSS)
ACCELERATOR_TILE = 2048  # on a GPU/TPU: per-tile launches and blending cost more than the
                        #   memory saved (a 1080x1920 photo whole: 1.9x cheaper per MP than in
                        #   1024-px tiles on an H200, BENCHMARKS.md); 4K photos still tile
DEFAULT_OVERLAP = 64    # blended pixels between tiles: hides the tiles' different statistics
DEFAULT_GRANULE = 16    # padded sizes are multiples of this (and of the network's multiple):
                        #   few programs, at most 15 px of padding


def default_tile(backend: str | None = None) -> int:
  """The largest tile side for `backend` (default: JAX's default backend)."""
  return DEFAULT_TILE if (backend or jax.default_backend()) == "cpu" else ACCELERATOR_TILE


class Enhancer:
  """Enhances NumPy images (uint8/uint16/float in [0, 1]; gray, RGB or RGBA)."""

  def __init__(self, model: NaLSuper, text: LoadedTextEncoder | None, image_params: Any,
               text_params: Any, *, default_prompt: str = "", tile: int | None = None,
               overlap: int = DEFAULT_OVERLAP, tile_batch: int = 1, step: int | None = None,
               granule: int | None = None, keep_exposure_words: bool = False):
    m = model.config.multiple
    granule = math.lcm(DEFAULT_GRANULE, m) if granule is None else granule
    tile = default_tile() if tile is None else tile
    tiling.check_options(tile, overlap, m, granule)
    self.granule = granule
    self.model, self.text = model, text
    self.image_params, self.text_params = image_params, text_params
    self.default_prompt = default_prompt
    self.tile, self.overlap, self.tile_batch = tile, overlap, max(1, tile_batch)
    self.step = step
    self.keep_exposure_words = keep_exposure_words
    self._tokens: dict[str, tuple[jax.Array, jax.Array]] = {}
    self._reported: set[str] = set()   # prompts whose warning a caller took
    self._params = inference.forward_params(image_params, text_params, text)
    self._forward = jax.jit(inference.forward_fn(model, text))
    self._compiled: dict[tuple, Any] = {}   # padded input shape -> executable
    self.compile_seconds = 0.0   # spent compiling (or reading from the persistent cache)

  @classmethod
  def from_workdir(cls, workdir: str | pathlib.Path, checkpoint: str | int = "latest",
                   **options) -> "Enhancer":
    """Loads `config.json` and the latest/best/step-N weights of a training run.

    Only the parameters (or their EMA) are restored; a checkpoint that is
    unreadable or holds non-finite weights raises `CheckpointError`. Turns
    on the persistent compilation cache (`compile_cache.enable`).
    """
    compile_cache.enable()
    config = checkpoints.read_config(workdir)
    model, text, image_params, text_params, step = checkpoints.restore_params(
        config, workdir, checkpoint)
    options.setdefault("default_prompt", config.eval.default_prompt or "")
    return cls(model, text, image_params, text_params, step=step, **options)

  @classmethod
  def pretrained(cls, directory: str | pathlib.Path | None = None, **options) -> "Enhancer":
    """The model shipped inside the package (`make pretrained`; its card is
    nalsuper_jax/weights/README.md), or one `shipped.write` put in `directory`.
    Needs no training and no workdir."""
    compile_cache.enable()
    config, model, text, image_params, text_params, metadata = shipped.load(
        shipped.SHIPPED_DIR if directory is None else directory)
    options.setdefault("default_prompt", config.eval.default_prompt or "")
    step = int(metadata["step"]) if metadata.get("step", "").isdigit() else None
    return cls(model, text, image_params, text_params, step=step, **options)

  @property
  def multiple(self) -> int:
    return self.model.config.multiple

  # -- the network ------------------------------------------------------------
  def prompt_or_default(self, prompt: str | None) -> str:
    """What `None` means wherever a prompt is taken: the model's default prompt."""
    return self.default_prompt if prompt is None else prompt

  def tokens(self, prompt: str | None) -> tuple[jax.Array, jax.Array]:
    """The prompt's token ids and mask (cached per prompt)."""
    prompt = self.prompt_or_default(prompt)
    if prompt not in self._tokens:
      reported = prompt in self._reported
      if (warning := self.prompt_warning(prompt)) and not reported:
        log.warning("%s", warning)
      self._tokens[prompt] = inference.token_ids(self.text, prompt)
    return self._tokens[prompt]

  def _run(self, low: np.ndarray, tokens: tuple[jax.Array, jax.Array]) -> np.ndarray:
    """The network on a padded batch; compiled once per input shape."""
    if low.shape not in self._compiled:
      start = time.perf_counter()
      self._compiled[low.shape] = self._forward.lower(self._params, low, *tokens).compile()
      self.compile_seconds += time.perf_counter() - start
    return np.asarray(self._compiled[low.shape](self._params, low, *tokens))

  def prompt_warning(self, prompt: str | None) -> str | None:
    """Says so when `prompt` is longer than the encoder reads (its end is
    dropped). A warning returned here is the caller's to report: `tokens`
    no longer logs it (nalsuper-enhance prints it once, in its own words)."""
    if self.text is None:
      return None
    prompt = self.prompt_or_default(prompt)
    tokens, limit = self.text.tokenizer.length(prompt), self.text.tokenizer.max_len
    if tokens <= limit:
      return None
    self._reported.add(prompt)
    return (f"prompt: {tokens} tokens, longer than the model's text.max_len={limit}; "
            f"only the first {limit} are used (shorten it)")

  def compiled_shapes(self) -> int:
    """How many padded input shapes the network has been compiled for."""
    return len(self._compiled)

  def enhance_rgb(self, rgb: np.ndarray, prompt: str | None = None) -> np.ndarray:
    """float32 [N, H, W, 3] in [0, 1] -> enhanced, same shape.

    With `keep_exposure_words`, each whole output (after its tiles are
    blended) is re-exposed into the luma range the prompt's exposure words
    name (`captions.keep_exposure_words`; other prompts: the network's output).
    """
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 4 or rgb.shape[-1] != 3:
      raise ValueError(f"expected float RGB [N, H, W, 3], got {rgb.shape}")
    tokens = self.tokens(prompt)
    _, h, w, _ = rgb.shape
    if h <= self.tile and w <= self.tile:
      padded, size = pad_to_multiple(rgb, self.granule)
      out = self._run(padded, tokens)[:, :size[0], :size[1]]
    else:
      out = np.stack([self._tiled(image, tokens) for image in rgb])
    if not self.keep_exposure_words:
      return out
    prompt = self.prompt_or_default(prompt)
    return np.stack([captions.keep_exposure_words(image, prompt) for image in out])

  def tile_shape(self, height: int, width: int) -> tuple[int, int]:
    """The tile [th, tw] for an image padded to `height` x `width` (multiples of `granule`)."""
    return (tiling.tile_side(height, self.tile, self.overlap, self.granule),
            tiling.tile_side(width, self.tile, self.overlap, self.granule))

  def _tiled(self, rgb: np.ndarray, tokens: tuple[jax.Array, jax.Array]) -> np.ndarray:
    padded, (h, w) = pad_to_multiple(rgb[None], self.granule)
    ph, pw = padded.shape[1:3]
    blender = tiling.Blender(ph, pw, 3)
    plan = list(tiling.tiles(ph, pw, self.tile_shape(ph, pw), self.overlap))
    for first in range(0, len(plan), self.tile_batch):
      chunk = plan[first:first + self.tile_batch]
      th, tw = chunk[0][2].shape
      batch = np.stack([padded[0, t:t + th, l:l + tw] for t, l, _ in chunk])
      if len(chunk) < self.tile_batch:  # keep one compiled batch shape
        batch = np.concatenate([batch, np.repeat(batch[-1:], self.tile_batch - len(chunk), 0)])
      out = self._run(batch, tokens)
      for (top, left, weight), tile_out in zip(chunk, out):
        blender.add(top, left, weight, tile_out)
    return blender.result()[:h, :w]

  def __call__(self, image: np.ndarray, prompt: str | None = None) -> np.ndarray:
    """Enhances one image [H, W(, C)] or a batch [N, H, W, C] of one size.

    Returns the same shape and dtype: 8/16-bit stay 8/16-bit, float stays
    float, grayscale stays grayscale, an alpha channel is copied unchanged.
    """
    image = np.asarray(image)
    batched = image.ndim == 4
    if image.ndim == 3 and image.shape[-1] not in (1, 2, 3, 4):
      raise ValueError(f"image of shape {image.shape}: expected [H, W], [H, W, C] with C in "
                       "1..4, or a batch [N, H, W, C]")
    if image.ndim == 2:
      channels_last = image[None, ..., None]
    else:
      channels_last = image if batched else image[None]
    rgb = photo_io.to_float_rgb(channels_last)
    out = self.enhance_rgb(rgb, prompt)
    like = image if batched else image[None]
    result = photo_io.from_float_rgb(out, like)
    return result if batched else result[0]
