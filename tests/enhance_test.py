"""Enhancing users' photos: API, tiling, file formats, the CLI and the export bundle.

The workdir the tests load is conftest's `perturbed_run` (`runs.perturbed_workdir`):
a `tiny` network with open text gates, saved as a real checkpoint + config.json.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy
from etils import epath
from PIL import Image
from skimage import data as skdata

from bench import text_control
from configs import tiny
from nalsuper_jax import checkpoints, metrics, shipped
from nalsuper_jax.checkpoints import CheckpointError
from nalsuper_jax.data import captions, degrade
from nalsuper_jax.data.images import ImageError
from nalsuper_jax.enhance import Enhancer, cli, export, photo_io, read_photo, ship, tiling
from nalsuper_jax.enhance import enhancer as enhancer_mod
from nalsuper_jax.enhance.enhancer import DEFAULT_OVERLAP
from tests import ROOT, image_files
from tests.numerics import assert_close


@pytest.fixture(scope="session")
def enhancer(perturbed_run):
  return Enhancer.from_workdir(perturbed_run, tile=64, overlap=16)


def _photo(h, w, seed=0):
  rng = np.random.default_rng(seed)
  base = rng.uniform(0.02, 0.25, size=(1, 1, 3))
  ramp = np.linspace(0.5, 1.5, w)[None, :, None]
  return np.clip(base * ramp + rng.normal(0, 0.01, (h, w, 3)), 0, 1).astype(np.float32)


@pytest.mark.slow
def test_from_workdir_reads_the_checkpoint_and_prompts_steer_the_output(enhancer):
  assert enhancer.step == 7
  image = _photo(40, 48)
  a, b = enhancer(image, prompt="a dark photo"), enhancer(image, prompt="a bright photo")
  assert a.shape == image.shape and a.dtype == np.float32
  assert np.abs(a - b).max() > 1e-3  # open gates: words reach the image
  np.testing.assert_array_equal(enhancer(image), enhancer(image, enhancer.default_prompt))


@pytest.mark.slow
def test_keep_exposure_words_re_exposes_the_whole_output_into_the_prompts_range(enhancer):
  kept = Enhancer(enhancer.model, enhancer.text, enhancer.image_params, enhancer.text_params,
                  default_prompt=enhancer.default_prompt, tile=64, overlap=16,
                  keep_exposure_words=True)
  image = _photo(40, 150)   # wider than a tile: the blended whole is re-exposed
  for prompt in text_control.PROMPTS:
    lo, hi = captions.prompt_luma_range(prompt)
    assert lo <= captions.mean_luma(kept(image, prompt)) < hi, prompt
  assert not lo <= captions.mean_luma(enhancer(image, prompt)) < hi  # the network alone: not
  # the default prompt names no exposure: the network's output, bit for bit
  np.testing.assert_array_equal(kept(image), enhancer(image))


@pytest.mark.slow
def test_any_size_and_pixel_format_in_same_out(enhancer):
  rng = np.random.default_rng(0)
  gray8 = rng.integers(0, 60, (5, 7), dtype=np.uint8)
  out = enhancer(gray8)
  assert out.shape == (5, 7) and out.dtype == np.uint8
  rgba16 = rng.integers(0, 9000, (33, 50, 4), dtype=np.uint16)
  out = enhancer(rgba16)
  assert out.shape == rgba16.shape and out.dtype == np.uint16
  np.testing.assert_array_equal(out[..., 3], rgba16[..., 3])  # alpha untouched
  assert len(np.unique(out[..., :3])) > 256  # 16-bit precision kept, not 8-bit steps
  gray_alpha = rng.integers(0, 60, (9, 11, 2), dtype=np.uint8)
  out = enhancer(gray_alpha)
  assert out.shape == (9, 11, 2)
  np.testing.assert_array_equal(out[..., 1], gray_alpha[..., 1])
  with pytest.raises(ValueError, match="expected"):
    enhancer(np.zeros((4, 4, 7), np.uint8))


@pytest.mark.slow
def test_one_compile_per_size_class_and_batches(perturbed_run):
  fresh = Enhancer.from_workdir(perturbed_run)
  g = fresh.granule
  assert g % fresh.multiple == 0
  # A folder of mixed sizes inside one granule class compiles one program.
  for seed, (h, w) in enumerate([(g - 5, 2 * g - 1), (g, 2 * g), (g // 2 + 1, g + 3)]):
    out = fresh(_photo(h, w, seed=seed))
    assert out.shape == (h, w, 3)
  assert fresh.compiled_shapes() == 1
  fresh(_photo(g + 1, 2 * g))                         # the next class: one more
  assert fresh.compiled_shapes() == 2
  batch = np.stack([_photo(g, 2 * g, seed=s) for s in range(3)])
  out = fresh(batch)
  assert out.shape == batch.shape and fresh.compiled_shapes() == 3
  assert_close(out[1], fresh(batch[1]))


def test_one_tiling_rule_for_the_api_and_the_command_line():
  tiling.check_options(64, 31, 4, granule=16)
  for args, message in (((30, 8, 4), r"tile=30: expected a positive multiple of 4"),
                        ((64, 32, 4), r"overlap=32: expected 0 <= overlap < tile/2 = 32"),
                        ((64, 8, 4, 6), r"granule=6: expected a positive multiple of 4")):
    with pytest.raises(ValueError, match=message):
      tiling.check_options(*args)


@pytest.mark.parametrize("height,width", [(1080, 1920), (2160, 3840), (1500, 1000)])
def test_tiles_are_trimmed_to_cover_the_photo_with_little_waste(height, width):
  """With 1024-pixel tiles a 1080x1920 photo computed 4 x 1024^2 pixels (2.0x its
  own); balanced tiles cover it with the same tile count and a few percent more."""
  tile, overlap, granule = 1024, 64, 32
  height, width = tiling.bucket(height, granule), tiling.bucket(width, granule)  # as padded
  th = tiling.tile_side(height, tile, overlap, granule)
  tw = tiling.tile_side(width, tile, overlap, granule)
  assert th <= tile and tw <= tile and th % granule == 0 and tw % granule == 0
  plan = list(tiling.tiles(height, width, (th, tw), overlap))
  full = list(tiling.tiles(height, width, (tile, tile), overlap))
  assert len(plan) == len(full)                       # no more tiles than before
  computed = sum(w.size for _, _, w in plan)
  assert computed <= 1.2 * height * width             # was up to 2.0x
  blender = tiling.Blender(height, width, 1)
  for top, left, weight in plan:
    assert top + weight.shape[0] <= height and left + weight.shape[1] <= width
    blender.add(top, left, weight, np.ones(weight.shape + (1,), np.float32))
  np.testing.assert_allclose(blender.result(), 1.0, atol=1e-6)   # covered everywhere
  assert tiling.tile_side(928, tile, overlap, granule) == 928     # fits: one tile, untouched


def test_tiles_cover_and_blend_without_seams():
  plan = list(tiling.tiles(100, 130, (48, 48), 16))
  blender = tiling.Blender(100, 130, 1)
  for top, left, weight in plan:
    assert weight.shape == (48, 48) and weight.min() > 0
    blender.add(top, left, weight, np.full((48, 48, 1), 0.3, np.float32))
  np.testing.assert_allclose(blender.result(), 0.3, atol=1e-6)  # a partition of unity
  assert tiling.starts(100, 48, 16) == [0, 32, 52]
  assert tiling.starts(40, 48, 16) == [0]


@pytest.mark.slow
def test_tiled_equals_untiled_up_to_a_small_stated_difference(enhancer, perturbed_run):
  """Measured on this fixture (2026-11-24, 2-core CPU): max |tiled - whole| =
  0.0099 on a 0..1 scale (2.5 of 255), mean 0.00094; the largest jump between
  neighbouring columns 0.1790 untiled vs 0.1791 tiled. The network's channel
  attention pools over its input, so each tile sees slightly different
  statistics; blending hides the tile borders. The bounds leave headroom."""
  whole = Enhancer.from_workdir(perturbed_run, tile=512)
  image = _photo(96, 160, seed=3)
  a, b = whole(image), enhancer(image)  # enhancer tiles at 64 with 16 overlap
  diff = np.abs(a - b)
  assert diff.max() < 0.03 and diff.mean() < 0.003
  # No seam: the largest jump between neighbouring columns is no larger in the
  # tiled output than in the untiled one (plus a little).
  jump = lambda x: np.abs(np.diff(x, axis=1)).max()
  assert jump(b) <= jump(a) + 0.02
  # Without --tile, a restored run tiles at the backend's default (this CPU's).
  assert Enhancer.from_workdir(perturbed_run).tile == enhancer_mod.default_tile("cpu")


@pytest.mark.parametrize("name", ["tiny", "default", "pretrained", "lol_v1"])
def test_the_default_tile_follows_the_backend_and_suits_every_network(name):
  """A CPU tiles above 1024 px (memory); an accelerator takes a 1080x1920 photo
  whole (what bench.inference measured cheaper there) but still tiles a 4K one.
  Either default is a valid --tile for the shipped configs' networks."""
  assert enhancer_mod.default_tile("cpu") == enhancer_mod.DEFAULT_TILE == 1024
  for backend in ("gpu", "tpu"):
    assert 1920 <= enhancer_mod.default_tile(backend) < 3840
  assert enhancer_mod.default_tile() == enhancer_mod.DEFAULT_TILE  # the tests run on a CPU
  config = importlib.import_module(f"configs.{name}").get_config()
  multiple = checkpoints.build_model(config).config.multiple
  for backend in ("cpu", "gpu"):
    tiling.check_options(enhancer_mod.default_tile(backend), DEFAULT_OVERLAP, multiple)


def test_photo_files_round_trip_depth_gray_alpha_and_exif(tmp_path):
  rng = np.random.default_rng(0)
  rgb16 = rng.integers(0, 65535, (6, 9, 3), dtype=np.uint16)
  image_files.write_png16_rgb(tmp_path / "a.png", rgb16)
  photo = read_photo(tmp_path / "a.png")
  np.testing.assert_array_equal(photo.pixels, rgb16)
  photo_io.write_photo(tmp_path / "b.png", rgb16)
  np.testing.assert_array_equal(read_photo(tmp_path / "b.png").pixels, rgb16)
  for name, pixels in (("g16.png", rgb16[..., 0]), ("t16.tif", rgb16),
                       ("rgba.png", rng.integers(0, 255, (6, 9, 4), dtype=np.uint8)),
                       ("g.png", rng.integers(0, 255, (6, 9), dtype=np.uint8))):
    photo_io.write_photo(tmp_path / name, pixels)
    back = read_photo(tmp_path / name)
    np.testing.assert_array_equal(back.pixels, pixels)
  assert read_photo(tmp_path / "g16.png").gray and read_photo(tmp_path / "t16.tif").bits == 16
  # EXIF orientation 6 (rotate 90 clockwise to view): a 6x9 stored image reads 9x6.
  stored = rng.integers(0, 255, (6, 9, 3), dtype=np.uint8)
  exif = Image.Exif()
  exif[0x0112] = 6
  Image.fromarray(stored).save(tmp_path / "rot.png", exif=exif)
  np.testing.assert_array_equal(read_photo(tmp_path / "rot.png").pixels, np.rot90(stored, -1))
  (tmp_path / "notes.txt").write_text("hello")
  with pytest.raises(ImageError, match="notes.txt"):
    read_photo(tmp_path / "notes.txt")
  (tmp_path / "broken.png").write_bytes((tmp_path / "g.png").read_bytes()[:40])
  with pytest.raises(ImageError, match="broken.png"):
    read_photo(tmp_path / "broken.png")


def test_failed_write_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch):
  target = tmp_path / "out.png"
  photo_io.write_photo(target, np.zeros((4, 4, 3), np.uint8))
  before = target.read_bytes()

  def boom(self, data):
    self.write_text("half")  # a partial temporary file, then the disk is full
    raise OSError("disk full")
  monkeypatch.setattr(type(epath.Path(target)), "write_bytes", boom)
  with pytest.raises(OSError, match="disk full"):
    photo_io.write_photo(target, np.full((4, 4, 3), 255, np.uint8))
  monkeypatch.undo()
  assert target.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["out.png"]


@pytest.mark.slow
def test_cli_folders_globs_failures_and_overwrite(perturbed_run, tmp_path, capsys):
  photos = tmp_path / "in"
  rng = np.random.default_rng(0)
  image_files.write(photos / "a.jpg", rng.integers(0, 50, (20, 30, 3), dtype=np.uint8))
  image_files.write(photos / "sub" / "b.png", rng.integers(0, 50, (17, 23, 3), dtype=np.uint8),
                    mode="png16")
  (photos / "sub" / "bad.png").write_bytes(b"not a png at all")
  image_files.write(tmp_path / "loose" / "c.png", rng.integers(0, 50, (12, 12, 3),
                                                               dtype=np.uint8), mode="rgba")
  out = tmp_path / "out"
  args = ["--workdir", str(perturbed_run), "--output", str(out), "--quiet", "--suffix", "_x",
          str(photos), str(tmp_path / "loose" / "*.png"), str(tmp_path / "missing.jpg")]
  assert cli.main(args) == 1
  printed = capsys.readouterr()
  assert "bad.png" in printed.err and "missing.jpg" in printed.err
  assert "3 enhanced, 0 skipped, 2 failed" in printed.out
  assert read_photo(out / "a_x.jpg").pixels.shape == (20, 30, 3)
  assert read_photo(out / "sub" / "b_x.png").bits == 16
  assert read_photo(out / "c_x.png").pixels.shape == (12, 12, 4)
  assert not list(out.rglob("*.partial"))
  stamp = (out / "a_x.jpg").stat().st_mtime_ns
  assert cli.main(args[:-1]) == 1  # bad.png still fails; existing outputs skipped
  assert "0 enhanced, 3 skipped, 1 failed" in capsys.readouterr().out
  assert (out / "a_x.jpg").stat().st_mtime_ns == stamp
  assert cli.main(args[:-1] + ["--overwrite", "--keep-exposure-words", "--prompt",
                                "a bright photo"]) == 1
  assert "3 enhanced" in capsys.readouterr().out
  lo, hi = captions.prompt_luma_range("a bright photo")   # the flag reaches the Enhancer
  assert lo <= captions.mean_luma(read_photo(out / "sub" / "b_x.png").pixels / 65535.0) < hi


@pytest.mark.slow
def test_module_entry_point_runs(perturbed_run, tmp_path):
  image_files.write(tmp_path / "a.png", np.full((10, 10, 3), 20, np.uint8))
  run = subprocess.run([sys.executable, "-m", "nalsuper_jax.enhance",
                        "--workdir", str(perturbed_run), "--output", str(tmp_path / "out"),
                        "--quiet", "--prompt", "a bright photo", str(tmp_path / "a.png")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  assert "1 enhanced, 0 skipped, 0 failed" in run.stdout
  assert (tmp_path / "out" / "a.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize("size", [None, (64, 64)])
def test_export_round_trip_without_our_model_code(enhancer, tmp_path, size):
  bundle = tmp_path / "model.nalsuper"
  export.export_bundle(enhancer, bundle, size=size)
  image = _photo(37, 50, seed=5)
  np.save(tmp_path / "in.npy", image)
  script = (
      "import sys, numpy as np\n"
      "from nalsuper_jax.exported import ExportedEnhancer\n"
      f"out = ExportedEnhancer({str(bundle)!r})(np.load({str(tmp_path / 'in.npy')!r}), "
      "'a bright photo')\n"
      f"np.save({str(tmp_path / 'out.npy')!r}, out)\n"
      "ours = [m for m in sys.modules if m.startswith('nalsuper_jax.') "
      "and m != 'nalsuper_jax.exported']\n"
      "assert not ours, ours\n")
  run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  if size is not None:  # the bundle pads to its fixed size; do the same here
    padded = np.pad(image, ((0, size[0] - 37), (0, size[1] - 50), (0, 0)), mode="reflect")
    expected = enhancer(padded, prompt="a bright photo")[:37, :50]
  else:
    expected = enhancer(image, prompt="a bright photo")
  assert_close(np.load(tmp_path / "out.npy"), expected)


def _shipped_parts(perturbed_run):
  config = checkpoints.read_config(perturbed_run)
  _, _, image_params, _, step = checkpoints.restore_params(config, perturbed_run)
  return config, image_params, None, {"step": step}


@pytest.fixture(scope="session")
def shipped_dir(perturbed_run, tmp_path_factory):
  out = tmp_path_factory.mktemp("shipped")
  assert ship.main(["--workdir", str(perturbed_run), "--out", str(out)]) == 0
  return out


@pytest.mark.slow
def test_shipped_weights_enhance_exactly_as_the_run_they_came_from(enhancer, shipped_dir):
  from_ship = Enhancer.pretrained(shipped_dir, tile=64, overlap=16)
  assert from_ship.step == enhancer.step
  photo = _photo(48, 40)
  for prompt in (None, "a bright photo"):
    np.testing.assert_array_equal(from_ship(photo, prompt=prompt), enhancer(photo, prompt=prompt))
  size = (shipped_dir / shipped.WEIGHTS_FILE).stat().st_size
  assert 0 < size <= shipped.MAX_BYTES


@pytest.mark.slow
def test_shipped_weights_that_do_not_fit_are_refused_by_name(perturbed_run, shipped_dir, tmp_path,
                                                             monkeypatch):
  bad = tmp_path / "bad"
  shutil.copytree(shipped_dir, bad)
  weights = bad / shipped.WEIGHTS_FILE
  flat = safetensors.numpy.load(weights.read_bytes())
  key = sorted(flat)[0]
  for change, message in ((lambda f: f | {key: np.full_like(f[key], np.nan)}, "non-finite"),
                          (lambda f: f | {key: f[key][..., :1]}, "shape"),
                          (lambda f: {k: v for k, v in f.items() if k != key}, "missing")):
    weights.write_bytes(safetensors.numpy.save(change(dict(flat))))
    with pytest.raises(CheckpointError, match=f"{weights}.*{message}"):
      shipped.load(bad)
  weights.write_bytes(weights.read_bytes()[:100])
  with pytest.raises(CheckpointError, match="not a readable safetensors"):
    shipped.load(bad)
  with pytest.raises(CheckpointError, match="make pretrained"):
    shipped.load(tmp_path / "nothing")
  monkeypatch.setattr(shipped, "MAX_BYTES", 1000)
  out = tmp_path / "too_big"
  with pytest.raises(ValueError, match="under"):
    shipped.write(out, *_shipped_parts(perturbed_run))
  assert not out.exists() or not any(out.iterdir())   # nothing written half


@pytest.mark.slow
def test_cli_without_a_workdir_uses_the_shipped_model(shipped_dir, tmp_path, monkeypatch, capsys):
  image_files.write(tmp_path / "in" / "a.png", (_photo(40, 48) * 255).astype(np.uint8))
  monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path / "none")
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--output", str(tmp_path / "out"), str(tmp_path / "in")])
  assert exit_info.value.code == 2
  assert "no shipped model" in capsys.readouterr().err
  monkeypatch.setattr(shipped, "SHIPPED_DIR", shipped_dir)
  assert cli.main(["--output", str(tmp_path / "out"), str(tmp_path / "in")]) == 0
  expected = Enhancer.pretrained(shipped_dir)(read_photo(tmp_path / "in" / "a.png").pixels)
  np.testing.assert_array_equal(read_photo(tmp_path / "out" / "a.png").pixels, expected)


@pytest.mark.slow
def test_bench_text_control_runs_on_a_training_workdir(perturbed_run, data_dir, tmp_path):
  """`make demo` ends with this command; it must run on what training writes."""
  run = tmp_path / "run"
  shutil.copytree(perturbed_run, run)
  config = json.loads((run / checkpoints.CONFIG_FILE).read_text())
  config["data"]["data_dir"] = data_dir
  (run / checkpoints.CONFIG_FILE).write_text(json.dumps(config))
  assert text_control.main(["--workdir", str(run), "--out", str(tmp_path / "results")]) == 0
  (record,) = (tmp_path / "results").glob("text_control-*.json")
  result = json.loads(record.read_text())
  assert result["num_images"] == 12 and len(result["per_image"]) == 12
  assert 0 <= result["monotonic_images"] <= 12


@pytest.mark.slow
def test_the_shipped_model_brightens_a_dark_photo_without_training():
  """The weights in nalsuper_jax/weights load, fit the size limit and work (a smoke
  test on a training photo; quality on held-out photos is bench.real_photos')."""
  weights = shipped.SHIPPED_DIR / shipped.WEIGHTS_FILE
  assert weights.stat().st_size <= shipped.MAX_BYTES
  low, high = degrade.degrade(skdata.coffee(), np.random.default_rng(0),
                              degrade.CAMERA_AS_SHOT)
  out = Enhancer.pretrained()(low)
  assert out.dtype == np.uint8 and out.shape == low.shape
  assert metrics.psnr(out, high) > metrics.psnr(low, high) + 6.0


def test_shipped_file_bytes_depend_only_on_the_weights(tmp_path):
  """safetensors writes its metadata in a per-process hash order; ours sorts the
  header, so writing the same weights twice gives the same bytes, and the file
  still reads back (weights and metadata) with safetensors itself."""
  params = {"conv": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
                     "bias": np.ones(4, np.float32)}}
  metadata = {name: str(i) for i, name in enumerate(
      ["step", "source", "date", "recipe", "machine", "seed", "loss", "notes"])}
  a = shipped.write(tmp_path / "a", tiny.get_config(), params, None, metadata).read_bytes()
  b = shipped.write(tmp_path / "b", tiny.get_config(), params, None,
                    dict(reversed(metadata.items()))).read_bytes()
  assert a == b
  size = int.from_bytes(a[:8], "little")
  assert size % 8 == 0
  flat = safetensors.numpy.load(a)
  np.testing.assert_array_equal(flat["image/conv/kernel"], params["conv"]["kernel"])
  with safetensors.safe_open(str(tmp_path / "a" / shipped.WEIGHTS_FILE), framework="numpy") as f:
    assert f.metadata() == metadata
