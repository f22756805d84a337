"""Evaluation: the paper's protocol plus classical baselines, and reports.

For each test image: the network with the image's own caption (the "oracle
caption" protocol of text-guided enhancement) and with the neutral
`config.eval.default_prompt`; the input itself; gamma and CLAHE (fitted on the
training split); and the oracle global exposure. Writes
`<workdir>/eval/<split>/per_image.csv`, `summary.json` and side-by-side
`images/<name>.png` (low | enhanced | normal).

Evaluation runs on host-local copies of the parameters (gathered from any
sharding), images of equal padded size batched together (one compiled
program per padded size), so it works the same for any mesh and any number
of hosts; hosts split the images and host 0 writes the reports.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import pathlib
from typing import Any

import imageio.v3 as iio
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils

from nalsuper_jax import baselines, checkpoints, files, inference, metrics
from nalsuper_jax.data import captions, pipeline
from nalsuper_jax.models import NaLSuper
from nalsuper_jax.text import LoadedTextEncoder

log = logging.getLogger("nalsuper_jax.evaluate")
METRIC_KEYS = ("psnr", "ssim", "psnr_float", "psnr_gt_mean", "ssim_gt_mean")


def host_params(tree: Any) -> Any:
  """Any (sharded, multi-host) array tree -> NumPy on every host."""
  if jax.process_count() > 1:
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


def _write_png(path, image: np.ndarray) -> None:
  """Encodes in memory, then writes atomically (works on gs:// too)."""
  files.write_atomic(path, iio.imwrite("<bytes>", image, extension=".png"))


def _csv(header: list[str], rows: list[list[str]]) -> str:
  """CSV text (quoted where a name holds a comma or a quote)."""
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(header)
  writer.writerows(rows)
  return buffer.getvalue()


def enhance_split(config: ml_collections.ConfigDict, model: NaLSuper,
                  text: LoadedTextEncoder | None, image_params: Any, text_params: Any,
                  source, *, prompt: str | None = None, limit: int | None = None,
                  shard: pipeline.Shard = pipeline.Shard(),
                  forward: inference.Forward | None = None):
  """Yields (index, element, output float HxWx3) for this host's images.

  Images of one padded shape run together in batches of
  `config.eval.batch_size` (a last partial batch is filled with copies, so
  each shape compiles once); results come out as batches complete, not in
  index order. `forward`: a jitted `inference.forward_fn(model, text)`;
  pass the same one to every call that should reuse its compiled programs.
  """
  forward = forward or jax.jit(inference.forward_fn(model, text))
  params = inference.forward_params(image_params, text_params, text)
  tokenizer = text.tokenizer if text is not None else None
  data = pipeline.eval_dataset(source if limit is None else _Head(source, limit),
                               multiple=model.config.multiple, tokenizer=tokenizer, shard=shard)
  prompt_ids = tokenizer([prompt]) if (prompt is not None and tokenizer is not None) else None
  size = max(1, int(config.eval.batch_size))

  def run(batch: list[tuple[int, dict]]):
    elements = [e for _, e in batch] + [batch[-1][1]] * (size - len(batch))
    low = jnp.asarray(np.stack([e["low"] for e in elements]), jnp.float32) / 255.0
    if tokenizer is None:
      ids = mask = jnp.zeros((1, 1), jnp.int32)
    elif prompt_ids is not None:
      ids, mask = prompt_ids
    else:
      ids = np.stack([e["ids"] for e in elements])
      mask = np.stack([e["mask"] for e in elements])
    out = np.asarray(forward(params, low, ids, mask))
    for k, (i, e) in enumerate(batch):
      yield shard.index + i * shard.count, e, out[k][:e["size"][0], :e["size"][1]]

  pending: dict[tuple[int, ...], list[tuple[int, dict]]] = {}
  for i in range(len(data)):
    e = data[i]
    if not e["valid"]:
      continue
    batch = pending.setdefault(np.shape(e["low"]), [])
    batch.append((i, e))
    if len(batch) == size:
      yield from run(pending.pop(np.shape(e["low"])))
  for batch in pending.values():
    yield from run(batch)


class _Head:
  """The first n elements of a data source."""

  def __init__(self, source, n):
    self.source, self.n = source, min(n, len(source))

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    if i >= self.n:
      raise IndexError(i)
    return self.source[i]


def _unpadded(e) -> tuple[np.ndarray, np.ndarray]:
  h, w = (int(v) for v in e["size"])
  return e["low"][:h, :w], e["high"][:h, :w]


def _gather_rows(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
  """Every host's rows on every host (numbers only; names are indices)."""
  if jax.process_count() == 1:
    return rows
  width = len(columns) + 1
  local = np.full((max(_max_rows(len(rows)), 1), width), np.nan)
  for r, row in enumerate(rows):
    local[r] = [row["index"]] + [row[c] for c in columns]
  everything = multihost_utils.process_allgather(local).reshape(-1, width)
  return [dict(index=int(v[0]), **dict(zip(columns, v[1:]))) for v in everything
          if not np.isnan(v[0])]


def _max_rows(n: int) -> int:
  return int(np.max(multihost_utils.process_allgather(np.array([n]))))


def fit_baselines(config: ml_collections.ConfigDict) -> dict[str, float]:
  """Gamma and CLAHE parameters chosen by PSNR on (part of) the training split."""
  source = pipeline.load_training_source(config.data)
  n = min(len(source), config.eval.baseline_fit_images)
  pairs = []
  for i in range(n):
    e = source[i]
    pairs.append((np.asarray(e["low"], np.float32) / 255.0, np.asarray(e["high"])))
  return baselines.fit(pairs)


def evaluate_params(config: ml_collections.ConfigDict, workdir: pathlib.Path, model: NaLSuper,
                    text: LoadedTextEncoder | None, image_params: Any, text_params: Any,
                    step: int, *, split: str | None = None) -> dict[str, Any]:
  """The full protocol on one split; writes the reports; returns the summary."""
  split = split or config.data.eval_split
  shard = pipeline.Shard(jax.process_index(), jax.process_count())
  source = pipeline.load_source(config.data.name, split, config.data.data_dir)
  fitted = fit_baselines(config) if config.eval.baselines else {}
  out_dir = workdir / "eval" / split
  forward = jax.jit(inference.forward_fn(model, text))  # shared by both passes below
  rows: dict[int, dict[str, Any]] = {}
  for index, e, out in enhance_split(config, model, text, image_params, text_params, source,
                                     limit=config.eval.max_images, shard=shard,
                                     forward=forward):
    low8, high8 = _unpadded(e)
    row = {"index": index, **metrics.image_metrics(out, high8)}
    if text is not None and "caption" in e:   # its exposure words kept (`Enhancer` option)
      m = metrics.image_metrics(captions.keep_exposure_words(out, e["caption"]), high8)
      row |= {"psnr_caption_kept": m["psnr"], "ssim_caption_kept": m["ssim"]}
    row |= {f"input_{k}": v for k, v in metrics.image_metrics(low8 / 255.0, high8).items()
            if k in ("psnr", "ssim")}
    low = low8.astype(np.float32) / 255.0
    for name, image in (baselines.outputs(low, high8, fitted).items() if fitted else ()):
      m = metrics.image_metrics(image, high8)
      row |= {f"psnr_{name}": m["psnr"], f"ssim_{name}": m["ssim"]}
    if config.eval.save_images:
      _write_png(out_dir / "images" / f"{e['name']}.png",
                 np.concatenate([low8, metrics.to_uint8(out), high8], axis=1))
    rows[index] = row
  if text is not None and config.eval.default_prompt:
    for index, e, out in enhance_split(config, model, text, image_params, text_params, source,
                                       prompt=config.eval.default_prompt,
                                       limit=config.eval.max_images, shard=shard,
                                       forward=forward):
      m = metrics.image_metrics(out, _unpadded(e)[1])
      rows[index] |= {"psnr_default_prompt": m["psnr"], "ssim_default_prompt": m["ssim"]}
  columns = sorted({k for r in rows.values() for k in r} - {"index"})
  all_rows = sorted(_gather_rows(list(rows.values()), columns), key=lambda r: r["index"])
  summary = {"step": int(step), "split": split, "num_images": len(all_rows),
             "default_prompt": config.eval.default_prompt, "baseline_params": fitted,
             "oracle_note": "oracle_exposure uses each target's mean: an upper reference, "
                            "not a method"}
  summary |= {c: float(np.mean([r[c] for r in all_rows])) for c in columns}
  if jax.process_index() == 0:
    names = [_name(source[r["index"]]) for r in all_rows]
    files.write_atomic(out_dir / "per_image.csv", _csv(
        ["name"] + columns,
        [[n] + [f"{r[c]:.4f}" for c in columns] for n, r in zip(names, all_rows)]))
    files.write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
  return summary


def _name(element) -> str:
  name = element["name"]
  return name.decode() if isinstance(name, bytes) else str(name)


class Evaluator:
  """The trainer's evaluator: mean PSNR/SSIM of the eval split, plus pictures.

  Called with the training tree ({"image": ..., maybe "text": ...}, possibly
  sharded over hosts); the trainer writes the returned scalars and hands
  them to Orbax, which keeps the best checkpoint by "psnr". One instance
  lives for a training run and keeps its compiled network between evaluations.
  """

  def __init__(self, config: ml_collections.ConfigDict, workdir: pathlib.Path):
    self.config, self.workdir = config, workdir
    self._forward: inference.Forward | None = None

  def __call__(self, model: NaLSuper, text: LoadedTextEncoder | None, params: Any,
               step: int, writer) -> dict[str, float]:
    config = self.config
    if self._forward is None:
      self._forward = jax.jit(inference.forward_fn(model, text))
    params = host_params(params)
    text_params = params.get("text", text.params) if text is not None else None
    source = pipeline.load_source(config.data.name, config.data.eval_split,
                                  config.data.data_dir)
    shard = pipeline.Shard(jax.process_index(), jax.process_count())
    rows, pictures = [], {}
    for index, e, out in enhance_split(config, model, text, params["image"], text_params,
                                       source, limit=config.eval.max_images, shard=shard,
                                       forward=self._forward):
      low8, high8 = _unpadded(e)
      rows.append({"index": index, **{k: v for k, v in metrics.image_metrics(out, high8).items()
                                      if k in ("psnr", "ssim")}})
      if index < config.train.image_summaries:
        pictures[f"eval/{_name(e)}"] = np.concatenate(
            [low8, metrics.to_uint8(out), high8], axis=1)[None]
    rows = _gather_rows(rows, ["psnr", "ssim"])
    result = {"psnr": float(np.mean([r["psnr"] for r in rows])),
              "ssim": float(np.mean([r["ssim"] for r in rows]))}
    if pictures:
      writer.write_images(step, pictures)
    log.info("step %d: eval psnr %.2f ssim %.4f", step, result["psnr"], result["ssim"])
    return result


def run(config: ml_collections.ConfigDict, workdir: str | pathlib.Path,
        *, checkpoint: str | int = "latest") -> dict[str, Any]:
  """`--mode=eval`: restores the latest/best/step-N weights (no optimizer) and evaluates."""
  workdir = checkpoints.workdir_path(workdir)
  model, text, image_params, text_params, step = checkpoints.restore_params(
      config, workdir, checkpoint)
  summary = evaluate_params(config, workdir, model, text, image_params, text_params, step)
  log.info("eval at step %d: %s", step, json.dumps(summary))
  return summary
