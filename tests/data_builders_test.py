"""TFDS builders on tiny fixture folders made here in each dataset's real layout."""

import filecmp
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from nalsuper_jax.data import builder as paired
from nalsuper_jax.data import images
from tests import image_files
from tfds_builders.lol_v1 import lol_v1_dataset_builder as lol_v1
from tfds_builders.lol_v2 import lol_v2_dataset_builder as lol_v2
from tfds_builders.paired_folder import paired_folder_dataset_builder as paired_folder
from tfds_builders.real_photos import real_photos_dataset_builder as real_photos
from tfds_builders.sid import sid_dataset_builder as sid
from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as synthetic


def _pair(seed, h=12, w=16):
  """A (low, high) pair whose identity is recoverable: high = 4 * low."""
  rng = np.random.default_rng(seed)
  low = rng.integers(5, 60, (h, w, 3)).astype(np.uint8)
  return low, (low.astype(np.int32) * 4).astype(np.uint8)


def _build(module, manual_dir, data_dir, config=None):
  builder = module.Builder(data_dir=str(data_dir), config=config)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


def _examples(builder, split):
  return {e["name"].decode(): e for e in builder.as_data_source(split=split)}


def _check_pairs(examples):
  for name, e in examples.items():
    assert e["low"].dtype == np.uint8 and e["low"].shape[-1] == 3, name
    np.testing.assert_allclose(e["high"].astype(int), e["low"].astype(int) * 4, atol=4,
                               err_msg=name)


@pytest.fixture
def lol_v1_dir(tmp_path):
  root = tmp_path / "manual"
  modes = ["rgb", "png16", "gray", "rgba"]  # converted, not rejected
  for i in range(3):
    low, high = _pair(i)
    image_files.write(root / "our485/low" / f"{i + 1}.png", low, modes[i])
    image_files.write(root / "our485/high" / f"{i + 1}.png", high, modes[(i + 1) % 4])
  for i in range(2):
    low, high = _pair(10 + i)
    image_files.write(root / "eval15/low" / f"{100 + i}.png", low)
    image_files.write(root / "eval15/high" / f"{100 + i}.png", high)
  (root / "captions.jsonl").write_text(
      json.dumps({"name": "1", "caption": "a quiet room"}) + "\n"
      + json.dumps({"name": "999", "caption": "no such image"}) + "\n")
  return root


def test_lol_v1_counts_pairing_and_captions(lol_v1_dir, tmp_path, caplog):
  caplog.set_level(logging.WARNING, logger="nalsuper_jax.data")
  builder = _build(lol_v1, lol_v1_dir, tmp_path / "data")
  train, test = _examples(builder, "train"), _examples(builder, "test")
  assert sorted(train) == ["1", "2", "3"] and sorted(test) == ["100", "101"]
  # Pair "1" is RGB low + 48-bit RGB high: exact after conversion. Pairs 2 and
  # 3 mix in grayscale/RGBA files, converted to RGB rather than rejected.
  _check_pairs({"1": train["1"]} | test)
  assert all(e["low"].shape == (12, 16, 3) for e in train.values())
  assert train["1"]["caption"].decode().startswith("a quiet room, ")
  assert not train["2"]["caption"].decode().startswith("a quiet room")
  assert "white balance" in train["2"]["caption"].decode()
  log = caplog.text
  assert "without a caption" in log and "2, 3" in log
  assert "caption(s) without an image: 999" in log
  # the builder writes array_record, readable by tfds.data_source
  assert len(tfds.data_source("lol_v1", data_dir=str(tmp_path / "data"), split="test")) == 2
  assert list((tmp_path / f"data/lol_v1/default/{paired.PairedImageBuilder.VERSION}"
               ).glob("*.array_record*"))


def test_missing_manual_dir_says_what_to_download(tmp_path):
  with pytest.raises(Exception, match=r"(?s)BMVC 2018.*our485/low"):
    _build(lol_v1, tmp_path / "nowhere", tmp_path / "data")
  (tmp_path / "wrong").mkdir()
  (tmp_path / "wrong/LOLdataset").mkdir()
  with pytest.raises(paired.ManualDataError, match=r"(?s)lacks \['our485/low'.*daooshee"):
    _build(lol_v1, tmp_path / "wrong", tmp_path / "data")


def test_bad_pairs_fail_by_name_or_are_skipped_and_counted(lol_v1_dir, tmp_path):
  image_files.write(lol_v1_dir / "our485/low/7.png", _pair(7)[0])         # unpaired
  with pytest.raises(paired.PairError, match=r"our485/low/7.png: no matching image"):
    _build(lol_v1, lol_v1_dir, tmp_path / "d1")
  (lol_v1_dir / "our485/low/7.png").unlink()
  data = (lol_v1_dir / "eval15/low/100.png").read_bytes()
  (lol_v1_dir / "eval15/low/100.png").write_bytes(data[: len(data) // 2])  # truncated
  with pytest.raises(images.ImageError, match=r"eval15/low/100.png: not a readable image"):
    _build(lol_v1, lol_v1_dir, tmp_path / "d2")
  image_files.write(lol_v1_dir / "eval15/low/100.png", _pair(0, 10, 16)[0])  # size mismatch
  with pytest.raises(paired.PairError, match=r"eval15/low/100.png: size 16x10 differs"):
    _build(lol_v1, lol_v1_dir, tmp_path / "d3")
  image_files.write(lol_v1_dir / "our485/high/8.png", _pair(8)[1])       # unpaired high
  builder = _build(lol_v1, lol_v1_dir, tmp_path / "d4", config="skip_bad")
  assert sorted(_examples(builder, "test")) == ["101"]
  assert len(_examples(builder, "train")) == 3
  assert len(builder.problems) == 2, builder.problems
  assert any("size 16x10" in p for p in builder.problems)
  assert any("our485/high/8.png: no matching" in p for p in builder.problems)


def test_lol_v2_real_pairs_by_number_and_synthetic_by_stem(tmp_path):
  root = tmp_path / "manual"
  for split, n in (("Train", 3), ("Test", 2)):
    for i in range(n):
      low, high = _pair(i + (0 if split == "Train" else 50))
      image_files.write(root / f"Real_captured/{split}/Low/low{i:05d}.png", low)
      image_files.write(root / f"Real_captured/{split}/Normal/normal{i:05d}.png", high)
      image_files.write(root / f"Synthetic/{split}/Low/r{i:04d}.png", low)
      image_files.write(root / f"Synthetic/{split}/Normal/r{i:04d}.png", high)
  real = _build(lol_v2, root, tmp_path / "data", config="real")
  train = _examples(real, "train")
  assert sorted(train) == ["low00000", "low00001", "low00002"]
  assert len(_examples(real, "test")) == 2
  _check_pairs(train)
  synthetic_builder = _build(lol_v2, root, tmp_path / "data", config="synthetic")
  assert sorted(_examples(synthetic_builder, "test")) == ["r0000", "r0001"]
  with pytest.raises(paired.ManualDataError, match=r"(?s)Real_captured/Train/Low.*SGM-Low-Light"):
    _build(lol_v2, tmp_path / "manual/Synthetic", tmp_path / "d2", config="real")


def test_sid_scenes_split_by_id_and_resize(tmp_path):
  root = tmp_path / "manual"
  for scene, shorts in (("00001", 2), ("10003", 1), ("20005", 1)):
    low, high = _pair(int(scene), 16, 20)
    (root / "long_sid2" / scene).mkdir(parents=True)
    np.save(root / "long_sid2" / scene / f"{scene}_00_10s.npy", high.astype(np.float32) / 255)
    for k in range(shorts):
      (root / "short_sid2" / scene).mkdir(parents=True, exist_ok=True)
      np.save(root / "short_sid2" / scene / f"{scene}_0{k}_0.1s.npy", low)
  full = _build(sid, root, tmp_path / "data", config="full")
  train, test = _examples(full, "train"), _examples(full, "test")
  assert sorted(train) == ["00001_00001_00_0.1s", "00001_00001_01_0.1s", "20005_20005_00_0.1s"]
  assert sorted(test) == ["10003_10003_00_0.1s"]
  _check_pairs(train | test)
  resized = _build(sid, root, tmp_path / "data", config="retinexformer")
  assert next(iter(_examples(resized, "test").values()))["low"].shape == (512, 960, 3)
  (root / "long_sid2/20005" / "20005_00_10s.npy").unlink()
  with pytest.raises(paired.PairError, match=r"long_sid2/20005: expected exactly one"):
    _build(sid, root, tmp_path / "d2", config="full")


def test_paired_folder_split_folders_and_formats(tmp_path):
  root = tmp_path / "manual"
  formats = [("rgb", ".png"), ("tif16", ".tif"), ("png16", ".png"), ("rgb", ".webp")]
  for split in ("train", "val"):
    for i, (mode, suffix) in enumerate(formats):
      low, high = _pair(i)
      image_files.write(root / split / "low" / f"img{i}{suffix}", low, mode)
      image_files.write(root / split / "high" / f"img{i}{suffix}", high, mode)
  (root / "val" / "captions.jsonl").write_text('{"name": "img0", "caption": "a test chart"}\n')
  builder = _build(paired_folder, root, tmp_path / "data")
  assert set(builder.info.splits) == {"train", "val"}
  val = _examples(builder, "val")
  assert sorted(val) == ["img0", "img1", "img2", "img3"]
  _check_pairs({k: v for k, v in val.items() if k != "img3"})  # webp is lossy
  assert val["img0"]["caption"].decode().startswith("a test chart, ")
  flat = tmp_path / "flat"
  for i in range(2):
    low, high = _pair(i)
    image_files.write(flat / "low" / f"{i}.jpg", low)
    image_files.write(flat / "high" / f"{i}.jpg", high)
  assert len(_examples(_build(paired_folder, flat, tmp_path / "d2"), "train")) == 2
  (tmp_path / "empty" / "photos").mkdir(parents=True)
  with pytest.raises(paired.ManualDataError, match="neither low/"):
    _build(paired_folder, tmp_path / "empty", tmp_path / "d3")


def test_synthetic_lowlight_with_grey_adds_training_photos_only(tmp_path):
  """`with_grey` lists the default's pairs plus the greyscale photos' in train,
  under the same names (so the same crops and noise), and the same test pairs;
  the colour photo list other builders read (real_photos) keeps no grey one."""
  pairs = {config: synthetic.Builder(data_dir=str(tmp_path), config=config).find_pairs(None)
           for config in ("default", "with_grey")}
  default, grey = pairs["default"], pairs["with_grey"]
  assert grey["test"] == default["test"]
  assert grey["train"][:len(default["train"])] == default["train"]
  added = {p.name.rsplit("_", 1)[0] for p in grey["train"][len(default["train"]):]}
  assert added == {p["name"] for p in synthetic.photos(("grey",)) if p.get("set") == "grey"}
  assert len(added) == 7 and not added & {p["name"] for p in synthetic.photos()}
  for name in added:
    (path,) = {p.high for p in grey["train"] if p.name.startswith(name + "_")}
    image = images.read_rgb8(path)
    assert (image[..., 0] == image[..., 2]).all(), name  # grey, stored as RGB


@pytest.mark.slow
def test_synthetic_lowlight_builds_offline_byte_identically_with_tfds_cli(data_dir, tmp_path):
  """One build through the Python API (the suite's `data_dir`), one through
  `tfds build` in another process (another hash seed): byte-identical files."""
  api = synthetic.Builder(data_dir=data_dir)
  cli = subprocess.run(
      [sys.executable, "-m", "tensorflow_datasets.scripts.cli.main", "build",
       "tfds_builders/synthetic_lowlight", "--config=default", f"--data_dir={tmp_path / 'cli'}"],
      capture_output=True, text=True, timeout=600,
      env={**os.environ, "PYTHONHASHSEED": str(os.getpid() % 1000 + 1)})
  assert cli.returncode == 0, cli.stderr[-3000:]
  version = paired.PairedImageBuilder.VERSION
  a_dir = pathlib.Path(data_dir) / f"synthetic_lowlight/default/{version}"
  b_dir = tmp_path / f"cli/synthetic_lowlight/default/{version}"
  files = sorted(p.name for p in a_dir.glob("*.array_record-*"))
  assert files and files == sorted(p.name for p in b_dir.glob("*.array_record-*"))
  for name in files:
    assert filecmp.cmp(a_dir / name, b_dir / name, shallow=False), name
  for split, count in (("train", 160), ("test", 12)):
    assert len(paired.split_digest(a_dir, split)) == count
  train, test = _examples(api, "train"), _examples(api, "test")
  photo = lambda name: name.rsplit("_", 1)[0]
  assert not {photo(n) for n in train} & {photo(n) for n in test}  # disjoint photos
  e = test["coffee_00"]
  assert e["low"].shape == (240, 320, 3)
  assert e["caption"].decode().startswith("a cup of espresso on a red saucer")
  assert e["low"].mean() < 0.6 * e["high"].mean()


def test_two_images_with_one_name_are_an_error_never_a_guess(tmp_path):
  """`low/a.png` beside `low/a.jpg` next to `high/a.png`: which low is the pair?"""
  low, high = _pair(1)
  image_files.write(tmp_path / "low/a.png", low)
  image_files.write(tmp_path / "low/a.jpg", high)   # sorts first: today's silent winner
  image_files.write(tmp_path / "high/a.png", high)
  image_files.write(tmp_path / "low/b.png", low)
  image_files.write(tmp_path / "high/b.png", high)
  with pytest.raises(paired.PairError, match=r"low/a.jpg: 2 images share the name 'a' "
                                             r"\(a.jpg, a.png\); expected one per pair"):
    paired.pair_by_stem(tmp_path / "low", tmp_path / "high")
  problems = []
  pairs = paired.pair_by_stem(tmp_path / "low", tmp_path / "high", skip_bad=True,
                              problems=problems)
  assert [p.name for p in pairs] == ["b"]       # a is left out, not paired by guess
  assert len(problems) == 1 and "share the name 'a'" in problems[0]


def test_webp_pictures_are_found_inside_a_resource_bundle():
  a, b = (np.random.default_rng(i).integers(0, 255, (20, 30, 3)).astype(np.uint8) for i in (1, 2))
  wave = b"RIFF" + (4).to_bytes(4, "little") + b"WAVE"           # a RIFF that is not WebP
  webp = image_files.webp_bytes
  bundle = b"qres\0junk" + wave + webp(a) + b"\0" * 7 + b"RIFF" + webp(b) + b"tail"
  found = real_photos.webp_members(bundle)
  assert len(found) == 2
  for data, image in zip(found, (a, b)):
    np.testing.assert_array_equal(real_photos._decode(data, "bundle"), image)


@pytest.fixture
def photo_packages(tmp_path, monkeypatch):
  """Three fake packages in `dpkg -x` layout: a resource bundle of three WebP
  photos (one a resized copy of a listed file: a duplicate; one too small), a
  KDE wallpaper folder with two resolutions, and the held-out package."""
  rng = np.random.default_rng(0)

  def photo(h, w):
    # Smooth colour fields: distinct photos differ by far more than DUPLICATE_RMS.
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, 6, 3)
    return (127 + 120 * np.sin(phase + 3 * x[..., None] + 5 * y[..., None] * phase)
            ).astype(np.uint8)

  root = tmp_path / "photos"
  listed = photo(400, 600)
  duplicate = np.asarray(Image.fromarray(listed).resize((450, 300), Image.LANCZOS))
  bundle_dir = root / "pkg-bundle" / "share"
  bundle_dir.mkdir(parents=True)
  (bundle_dir / "a.rcc").write_bytes(b"qres" + b"".join(
      image_files.webp_bytes(p) for p in (photo(390, 500), duplicate, photo(100, 120))))
  files_dir = root / "pkg-files" / "share"
  files_dir.mkdir(parents=True)
  image_files.write(files_dir / "listed.png", listed)
  wall = root / "pkg-wall" / "wallpapers" / "Lake" / "contents" / "images"
  wall.mkdir(parents=True)
  lake = photo(500, 800)
  image_files.write(wall / "800x500.png", lake)
  image_files.write(wall / "400x800.png", photo(800, 400))   # portrait: not chosen
  held = root / real_photos.TEST_PACKAGE / "bg"
  held.mkdir(parents=True)
  test_photos = {f"t{i}.jpg": photo(420, 560) for i in range(2)}
  for name, image in test_photos.items():
    image_files.write(held / name, image)
  monkeypatch.setattr(real_photos, "SOURCES", (
      real_photos.Files("pkg-files", "share", {"listed.png": "a listed photo"}),
      real_photos.QtResources("pkg-bundle", "share", {"a.rcc": "a bundled photo"}),
      real_photos.Wallpapers("pkg-wall", "wallpapers", {"Lake": "a lake"}),
      real_photos.Files(real_photos.TEST_PACKAGE, "bg", {n: "held out" for n in test_photos}),
  ))
  return root, lake


def test_real_photos_splits_by_package_and_leaves_out_duplicates(photo_packages, tmp_path):
  root, lake = photo_packages
  builder = _build(real_photos, root, tmp_path / "data")
  train, test = _examples(builder, "train"), _examples(builder, "test")
  wheel_names = {p["name"] for p in synthetic.photos()  # those big enough to store
                 if min(images.read_rgb8(images.package_file(p["package"], p["path"])).shape[:2])
                 >= real_photos.MIN_SIDE}
  assert len(wheel_names) >= 8
  assert set(train) == wheel_names | {"pkg-files:listed", "pkg-bundle:a:000", "pkg-wall:Lake"}
  assert set(test) == {f"{real_photos.TEST_PACKAGE}:t0", f"{real_photos.TEST_PACKAGE}:t1"}
  # The wallpaper's landscape file, scaled to the stored short side, is its reference
  # (re-exposed in training: the same picture up to a brightness factor).
  scaled = images.scale_short_side(lake, real_photos.SHORT_SIDE)
  high = train["pkg-wall:Lake"]["high"]
  assert high.shape == scaled.shape
  assert np.corrcoef(high.ravel().astype(float), scaled.ravel().astype(float))[0, 1] > 0.99
  for e in test.values():  # held-out references are the photos themselves, darkened inputs
    assert min(e["high"].shape[:2]) == real_photos.SHORT_SIDE
    assert e["low"].mean() < 0.5 * e["high"].mean()
  assert train["pkg-files:listed"]["caption"].decode().startswith("a listed photo")


def test_real_photos_names_the_missing_package(photo_packages, tmp_path):
  root, _ = photo_packages
  shutil.rmtree(root / "pkg-wall")
  with pytest.raises(paired.ManualDataError, match=r"pkg-wall[\s\S]*apt-get download"):
    _build(real_photos, root, tmp_path / "data")
