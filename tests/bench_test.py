"""The bench plumbing that turns measurements into BENCHMARKS.md (no timings here)."""

import numpy as np
import pytest

from bench import run, text_control


def test_write_benchmarks_replaces_only_the_marked_blocks(tmp_path):
  page = tmp_path / "BENCHMARKS.md"
  page.write_text("intro\n<!-- bench:header -->\nold\n<!-- /bench:header -->\nkeep me\n"
                  "<!-- bench:cost -->\nstale table\n<!-- /bench:cost -->\nend\n")
  run.write_benchmarks(page, {"cost": "| a |\n|---|"}, "made by a test")
  text = page.read_text()
  assert "stale table" not in text and "old" not in text
  assert "keep me" in text and "| a |" in text and "made by a test" in text
  with pytest.raises(SystemExit, match="bench:train"):
    run.write_benchmarks(page, {"train": "x"}, "h")


def test_text_control_counts_images_whose_luminance_rises_with_the_prompt():
  class Scaled:
    """A fake enhancer: brightness set by the prompt's position, except for image 1."""
    def __call__(self, image, prompt=None):
      k = text_control.PROMPTS.index(prompt)
      return image * (1 + k) if image.mean() < 0.5 else image * (4 - k) / 4
  images = [np.full((4, 4, 3), 0.1, np.float32), np.full((4, 4, 3), 0.8, np.float32)]
  table = text_control.control_table(Scaled(), images)
  assert table["monotonic_images"] == 1 and table["num_images"] == 2
  lumas = list(table["mean_luma"].values())
  assert lumas[0] == pytest.approx((0.1 + 0.8) / 2, rel=1e-5)


def test_real_photo_scores_and_the_bar():
  from bench import real_photos
  rng = np.random.default_rng(0)
  highs = [rng.integers(0, 256, (24, 32, 3)).astype(np.uint8) for _ in range(3)]
  refs = [h.astype(np.float32) / 255.0 for h in highs]
  same = real_photos.score(refs, highs)
  assert same["saturation_ratio"] == pytest.approx(1.0, rel=1e-6)
  assert same["detail_ratio"] == pytest.approx(1.0, rel=1e-6)
  grey = real_photos.score([np.repeat(r.mean(-1, keepdims=True), 3, -1) for r in refs], highs)
  assert grey["saturation_ratio"] < 0.05                 # colour gone
  row = {"margin_db": 3.5, "saturation_ratio": 0.95, "detail_ratio": 1.1,
         "monotonic_images": 4, "num_images": 4}
  assert real_photos.failures(row) == []
  missed = real_photos.failures(row | {"margin_db": 2.0, "detail_ratio": 1.3,
                                       "monotonic_images": 3})
  assert len(missed) == 3 and "margin" in missed[0] and "high-frequency" in missed[1]


def test_published_peak_and_the_gpu_train_table():
  from bench import train_step
  assert train_step.published_peak_tflops("NVIDIA H200", "bfloat16") == 989.4
  assert train_step.published_peak_tflops("NVIDIA H100 80GB HBM3", "float32") == 494.7
  assert train_step.published_peak_tflops("cpu", "float32") is None
  row = {"model": "small", "dtype": "bfloat16", "crop": 256, "batch": 32, "step_s": 0.5,
         "images_per_s": 64.0, "compile_s": 1.0, "gflop_per_step": 100.0,
         "gflops_achieved": 200.0, "fraction_of_matmul_peak": 0.5}
  cpu = run.train_table({"matmul_peak_gflops": 400.0, "rows": [row]})
  assert "MFU" not in cpu and "| 50% |" in cpu
  gpu = run.train_table({"matmul_peaks_gflops": {"bfloat16": 400.0},
                         "rows": [row | {"mfu": 0.123}]})
  assert gpu.splitlines()[2].endswith("| MFU |") and gpu.endswith("| 50% | 12.3% |")


def test_flops_counted_before_compilation_include_the_backward_convolutions():
  """The lowered count (the one every backend agrees on) against the CPU's count
  of the compiled program, for a convolution's forward and both gradients."""
  import jax
  import jax.numpy as jnp
  from nalsuper_jax.models import cost
  x = jax.ShapeDtypeStruct((2, 16, 24, 8), jnp.float32)
  k = jax.ShapeDtypeStruct((3, 3, 8, 12), jnp.float32)
  def loss(x, k):
    y = jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.sum(y * y)
  lowered = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(x, k)
  compiled = lowered.compile().cost_analysis()
  compiled = compiled[0] if isinstance(compiled, (list, tuple)) else compiled
  forward = cost.xla_flops(lambda x, k: jax.lax.conv_general_dilated(
      x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")), x, k)
  assert cost.lowered_flops(lowered) == pytest.approx(compiled["flops"], rel=0.05)
  assert cost.lowered_flops(lowered) >= 3 * forward  # forward + input grad + kernel grad


def test_recount_rewrites_flops_and_mfu_from_the_lowered_step(tmp_path):
  import json
  from bench import model_cost, train_step
  from nalsuper_jax import models
  path = tmp_path / "train_step-gpu.json"
  row = {"model": "tiny", "dtype": "float32", "crop": 32, "batch": 2, "step_s": 0.25,
         "gflop_per_step": 0.001, "published_peak_tflops": 1.0}
  path.write_text(json.dumps({"matmul_peaks_gflops": {"float32": 500.0}, "rows": [row]}))
  train_step.recount(str(path))
  out = json.loads(path.read_text())
  got = out["rows"][0]
  # The image network forward + backward (~3x its forward) plus the frozen
  # text tower's forward over the batch's two captions.
  forward = models.model_cost(models.model_config("tiny"), 32, 32).gflops * 2
  text = model_cost.text_encoder_cost()["gflops"] * 2
  assert 2.5 * forward + text < got["gflop_per_step"] < 4.5 * forward + 1.1 * text
  assert got["gflops_achieved"] == pytest.approx(got["gflop_per_step"] / 0.25)
  assert got["mfu"] == pytest.approx(got["gflops_achieved"] / 1e3)
  assert got["fraction_of_matmul_peak"] == pytest.approx(got["gflops_achieved"] / 500.0)
  assert "--recount" in out["flops_recounted"]


def _seed_table(shift: float, spread: dict[str, float] | None = None) -> dict:
  from bench import quality
  spread = spread or {}
  table = {key: {m: 20.0 + spread.get(key, 0.0) * shift for m in quality.METRICS}
           for key in quality.LABELS}
  table["_meta"] = {"num_images": 3}
  return table


def test_quality_rows_are_means_with_sample_spread_and_the_verdict_weighs_it():
  from bench import quality
  # Over three seeds: captions 2 dB above text-free with a spread of 0.5 (a real
  # gain); IFA-text 0.3 dB above NaLSuper but with a spread of 1.0 (not real).
  seeds = []
  for shift in (-1.0, 0.0, 1.0):
    t = _seed_table(shift, {"ifa_text_caption": 1.0, "nalsuper_caption": 0.5})
    for m in quality.METRICS:
      t["nalsuper_caption"][m] += 2.0
      t["ifa_text_caption"][m] += 2.3
    seeds.append(t)
  summary = quality.summarise(seeds, [0, 1, 2])
  cap = summary["nalsuper_caption"]["psnr"]
  assert cap["mean"] == pytest.approx(22.0) and cap["std"] == pytest.approx(0.5)  # ddof=1
  assert cap["values"] == [21.5, 22.0, 22.5]
  table = quality.markdown(summary)
  assert "| NaLSuper, each image's caption | 22.00 ± 0.50 |" in table
  assert "| input (no enhancement) | 20.00 | 20.000 |" in table  # no spread, no ±
  verdict = quality.verdict(summary)
  assert verdict.startswith("Over 3 seeds, text helps beyond the spread")
  assert "captions vs text-free +2.00 dB (spread 0.50, exceeds it)" in verdict
  assert "text-conditioned IFA vs without +0.30 dB (spread 1.50)" in verdict


def test_quality_verdict_with_one_seed_and_no_gain():
  from bench import quality
  summary = quality.summarise([_seed_table(0.0)], [0])
  assert summary["nalsuper_caption"]["psnr"]["std"] == 0.0
  verdict = quality.verdict(summary)
  assert verdict.startswith("One seed, so no spread is measured")
  assert "captions vs text-free +0.00 dB;" in verdict and "exceeds" not in verdict


def test_run_streams_a_benchmark_that_floods_stderr(tmp_path, monkeypatch, capsys):
  """A benchmark child that writes far more than a pipe holds to stderr (progress
  bars, XLA logs) must not stall; its stdout is echoed and its JSON read back."""
  import json
  import threading
  (tmp_path / "flood.py").write_text(
      "import json, pathlib, sys\n"
      "sys.stderr.write('x' * 400_000)\n"
      "print('progress line', flush=True)\n"
      "out = pathlib.Path(sys.argv[-1].split('=', 1)[1])\n"
      "(out / 'flood-cpu-today.json').write_text(json.dumps({'rows': [1, 2]}))\n")
  monkeypatch.setattr(run, "ROOT", tmp_path)
  out = tmp_path / "out"
  out.mkdir()
  result = {}
  worker = threading.Thread(target=lambda: result.update(run._run("flood", ["flood"], str(out))))
  worker.start()
  worker.join(timeout=120)
  assert not worker.is_alive(), "the benchmark child stalled"
  assert result["rows"] == [1, 2] and result["wall_s"] > 0
  assert "progress line" in capsys.readouterr().out
  assert json.loads((out / "flood-cpu-today.json").read_text()) == {"rows": [1, 2]}
