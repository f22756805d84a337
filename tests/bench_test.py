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
