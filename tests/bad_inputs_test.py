"""Bad input at every door: one clear line naming the file or argument, never a wrong picture.

Two tables. `USAGE` holds argument mistakes of `nalsuper-enhance` and
`nalsuper-export`: each must exit 2 with `<tool>: <argument>...` before any
model loads (loading is patched to fail the test). `FILES` holds bad and
tricky files fed to one `nalsuper-enhance` run together with good photos:
each bad file is named on its own line, the good ones are enhanced, the run
exits 1, and no partial file is left. Further cases cover the exported
runner and the image decoder the dataset builders share.
"""

import contextlib
import io
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from configs import tiny
from nalsuper_jax import exported
from nalsuper_jax.data import builder, captions, images, pipeline
from nalsuper_jax.enhance import Enhancer, cli, export, photo_io, usage
from tests import ROOT, image_files


@pytest.fixture(scope="session")
def listed_workdir(tmp_path_factory):
  """What the argument checks read (config.json, checkpoints/7/): no weights, since a
  usage error must be found before any model loads."""
  path = tmp_path_factory.mktemp("listed")
  (path / "checkpoints" / "7").mkdir(parents=True)
  (path / "config.json").write_text(json.dumps(tiny.get_config().to_dict(), default=str))
  return path


def _dark(h=12, w=16, seed=0):
  return np.random.default_rng(seed).integers(5, 50, (h, w, 3), dtype=np.uint8)


def _png_header_only(path, width, height, bit_depth):
  """A valid PNG signature + IHDR claiming a huge image, then one tiny IDAT."""
  def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
  ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 2, 0, 0, 0)
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                   + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------------------
# Usage errors: exit 2, one line, before any model loads.
# ---------------------------------------------------------------------------
def _no_config(tmp):
  (tmp / "empty").mkdir()
  return ["--workdir", str(tmp / "empty")]


def _no_checkpoints(tmp):
  (tmp / "fresh").mkdir()
  (tmp / "fresh" / "config.json").write_text("{}")
  return ["--workdir", str(tmp / "fresh")]


def _output_is_file(tmp):
  (tmp / "out.txt").write_text("x")
  return ["--output", str(tmp / "out.txt")]


def _output_under_file(tmp):
  (tmp / "out.txt").write_text("x")
  return ["--output", str(tmp / "out.txt" / "sub")]


USAGE = {  # id: (extra args or a function of tmp_path giving them, expected message)
    "tile zero": (["--tile", "0"], r"--tile=0: expected a positive multiple of 4"),
    "tile not a multiple": (["--tile", "30"], r"--tile=30: expected a positive multiple of 4"),
    "tile negative": (["--tile", "-64"], r"--tile=-64: expected a positive multiple"),
    "overlap too large": (["--tile", "64", "--overlap", "40"],
                          r"--overlap=40: expected 0 <= overlap < tile/2 = 32"),
    "overlap negative": (["--overlap", "-1"], r"--overlap=-1: expected 0 <= overlap"),
    "tile not a number": (["--tile", "big"], r"argument --tile: invalid int value: 'big'"),
    "jpeg quality high": (["--jpeg-quality", "500"], r"--jpeg-quality=500: expected 1\.\.100"),
    "jpeg quality zero": (["--jpeg-quality", "0"], r"--jpeg-quality=0: expected 1\.\.100"),
    "suffix with slash": (["--suffix", "a/b"], r"--suffix='a/b': contains a path separator"),
    "which unknown": (["--which", "newest"], r"--which: .*'newest'; expected latest, best or a step"),
    "which missing step": (["--which", "99"], r"--workdir=.*: no checkpoint at step 99; have \[7\]"),
    "workdir missing": (lambda tmp: ["--workdir", str(tmp / "nope")],
                        r"--workdir=.*nope: no such folder; expected a training workdir"),
    "workdir without config": (_no_config, r"--workdir=.*empty: no config\.json"),
    "workdir without checkpoints": (_no_checkpoints, r"--workdir=.*fresh: no checkpoints in"),
    "checkpoint not a step folder": (lambda tmp: ["--checkpoint", str(tmp)],
                                     r"--checkpoint=.*: expected <workdir>/checkpoints/<step>"),
    "output is a file": (_output_is_file, r"--output=.*out\.txt: is a file; expected a folder"),
    "output under a file": (_output_under_file, r"--output=.*sub: .*out\.txt is a file"),
    "unknown flag": (["--tiel", "64"], r"unrecognized arguments: --tiel"),
}


@pytest.fixture
def no_model_loads(monkeypatch):
  def refuse(*args, **kwargs):
    raise AssertionError("a model was loaded before the arguments were checked")
  monkeypatch.setattr(Enhancer, "from_workdir", refuse)


def _usage_error_line(main_fn, argv, prog, capsys) -> str:
  """Runs a CLI expecting exit 2 with exactly one `<prog>: ...` line on stderr."""
  with pytest.raises(SystemExit) as e:
    main_fn(argv)
  assert e.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith(f"{prog}: "), err
  return err[0]


@pytest.mark.parametrize("case", sorted(USAGE))
def test_enhance_usage_errors_exit_2_before_loading(case, listed_workdir, tmp_path, capsys,
                                                     no_model_loads):
  extra, expected = USAGE[case]
  extra = extra(tmp_path) if callable(extra) else extra
  photo = image_files.write(tmp_path / "in" / "a.png", _dark())
  source = [] if "--checkpoint" in extra else ["--workdir", str(listed_workdir)]
  # Later flags win in argparse, so a case can override --workdir/--output.
  argv = source + ["--output", str(tmp_path / "out"), "--quiet"] + extra + [str(photo)]
  line = _usage_error_line(cli.main, argv, "nalsuper-enhance", capsys)
  assert re.search(expected, line), line
  assert not (tmp_path / "out").exists()


EXPORT_USAGE = {
    "size not a multiple": (["--size", "30x30"], r"--size=30x30: expected multiples of 4"),
    "size malformed": (["--size", "big"], r"--size.*'big'; expected HEIGHTxWIDTH"),
    "which unknown": (["--which", "newest"], r"--which: .*'newest'; expected latest, best"),
    "output is a folder": (lambda tmp: ["--output", str(tmp)], r"--output=.*: is a folder; expected"),
    "batch negative": (["--batch", "-1"], r"--batch=-1: expected 0 \(symbolic\) or more"),
}


@pytest.mark.parametrize("case", sorted(EXPORT_USAGE))
def test_export_usage_errors_exit_2_before_loading(case, listed_workdir, tmp_path, capsys,
                                                    no_model_loads):
  extra, expected = EXPORT_USAGE[case]
  extra = extra(tmp_path) if callable(extra) else extra
  argv = ["--workdir", str(listed_workdir), "--output", str(tmp_path / "m.nalsuper")] + extra
  line = _usage_error_line(export.main, argv, "nalsuper-export", capsys)
  assert re.search(expected, line), line
  assert list(tmp_path.glob("*.nalsuper*")) == []


# ---------------------------------------------------------------------------
# Bad files in one enhance run: each named, the good ones enhanced, exit 1.
# ---------------------------------------------------------------------------
def _truncated_png(path):
  image_files.write(path, _dark(40, 40))
  data = path.read_bytes()
  path.write_bytes(data[: len(data) // 2])


def _truncated_png16(path):
  image_files.write(path, _dark(40, 40), mode="png16")
  data = path.read_bytes()
  path.write_bytes(data[: len(data) // 2])


def _animated_png(path):
  frames = [Image.fromarray(_dark(seed=i)) for i in range(3)]
  frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)


def _multipage_tiff(path):
  frames = [Image.fromarray(_dark(seed=i)) for i in range(2)]
  frames[0].save(path, save_all=True, append_images=frames[1:])


FILES = {  # file name: (how to make it, expected message after the path)
    "truncated.png": (_truncated_png, r"not a readable image"),
    "truncated16.png": (_truncated_png16, r"(truncated 16-bit PNG|not a readable image)"),
    "text.png": (lambda p: p.write_text("hello"), r"not a readable image"),
    "empty.jpg": (lambda p: p.write_bytes(b""), r"not a readable image"),
    "huge16.png": (lambda p: _png_header_only(p, 60000, 60000, 16),
                   r"(3600000000 pixels; expected at most|expected at most \d+ pixels)"),
    "huge8.png": (lambda p: _png_header_only(p, 60000, 60000, 8),
                  r"(3600000000 pixels; expected at most|expected at most \d+ pixels)"),
    "animated.png": (_animated_png, r"3 frames \(animated or multi-page\); expected one still"),
    "pages.tif": (_multipage_tiff, r"2 frames \(animated or multi-page\)"),
    "notes.txt": (lambda p: p.write_text("x"), r"not a supported image type"),
}


@pytest.fixture(scope="session")
def mixed_run(perturbed_run, tmp_path_factory):
  """One `nalsuper-enhance` run over a folder of good and bad files."""
  tmp = tmp_path_factory.mktemp("mixed")
  folder = tmp / "in"
  good = {"good.png": _dark(seed=1), "sub/good.jpg": _dark(seed=2)}
  for name, pixels in good.items():
    image_files.write(folder / name, pixels)
  for name, (make, _) in FILES.items():
    make(folder / name)
  explicit = folder / "notes.txt"   # a folder walk skips non-images; name it on purpose
  out = tmp / "out"


  err, std = io.StringIO(), io.StringIO()
  with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
    code = cli.main(["--workdir", str(perturbed_run), "--output", str(out), "--quiet",
                     str(folder), str(explicit)])
  return code, err.getvalue().splitlines(), std.getvalue(), out, good


@pytest.mark.slow  # loads a model
@pytest.mark.parametrize("name", sorted(FILES))
def test_each_bad_file_is_named_and_the_good_ones_are_enhanced(name, mixed_run):
  code, err, out_text, out, good = mixed_run
  expected = FILES[name][1]
  lines = [l for l in err if f"/{name}: " in l]
  assert len(lines) == 1, err
  assert lines[0].startswith("nalsuper-enhance: ")
  assert re.search(expected, lines[0]), lines[0]
  assert code == 1
  for g in good:
    assert photo_io.read_photo(out / g).pixels.shape == good[g].shape
  assert f"{len(good)} enhanced, 0 skipped, {len(FILES)} failed" in out_text
  assert not [p for p in out.rglob("*") if p.is_file() and p.name not in
              {pathlib.Path(g).name for g in good}]  # nothing for a bad file, no partials


# ---------------------------------------------------------------------------
# Files that used to give a silently wrong picture.
# ---------------------------------------------------------------------------
def test_cmyk_jpeg_is_converted_not_read_as_rgb_plus_alpha(tmp_path):
  y, x = np.mgrid[0:32, 0:32]
  smooth = np.stack([4 * x + 40, 4 * y + 40, 200 - 2 * (x + y)], -1).astype(np.uint8)
  Image.fromarray(smooth).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
  cmyk = photo_io.read_photo(tmp_path / "cmyk.jpg")
  assert cmyk.pixels.shape == (32, 32, 3) and cmyk.alpha is None
  error = np.abs(cmyk.pixels.astype(int) - smooth.astype(int)).mean()
  assert error < 3, error      # JPEG rounding only; read as RGB+alpha it is ~100 off


@pytest.mark.slow  # loads a model
def test_output_inside_the_input_folder_is_not_enhanced_again(perturbed_run, tmp_path, capsys):
  inside, same = tmp_path / "inside", tmp_path / "same"
  for folder in (inside, same):
    image_files.write(folder / "p.png", _dark())
  base = ["--workdir", str(perturbed_run), "--quiet"]
  for _ in range(2):  # the second run must not pick up the first run's outputs
    assert cli.main(base + ["--output", str(inside / "enhanced"), str(inside)]) == 0
    assert cli.main(base + ["--output", str(same), "--suffix", "_b", str(same)]) == 0
  assert sorted(str(p.relative_to(inside)) for p in inside.rglob("*.png")) == [
      "enhanced/p.png", "p.png"]
  assert sorted(p.name for p in same.rglob("*.png")) == ["p.png", "p_b.png"]
  assert "0 enhanced, 1 skipped" in capsys.readouterr().out


@pytest.mark.slow  # loads a model
def test_long_prompt_warns_that_its_end_is_ignored(perturbed_run, tmp_path, capsys, caplog):
  image_files.write(tmp_path / "a.png", _dark())
  long_prompt = " ".join(["a very bright and colourful photo"] * 10)
  assert cli.main(["--workdir", str(perturbed_run), "--output", str(tmp_path / "out"), "--quiet",
                   "--prompt", long_prompt, str(tmp_path / "a.png")]) == 0
  err = capsys.readouterr().err
  assert "nalsuper-enhance: warning: prompt:" in err and "text.max_len=16" in err
  # Once, in our words: the enhancer does not log it again.
  assert err.count("text.max_len=16") == 1
  assert not [r for r in caplog.records if "text.max_len" in r.getMessage()]


# ---------------------------------------------------------------------------
# The exported runner treats files exactly as nalsuper-enhance does.
# ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bundle(perturbed_run, tmp_path_factory):
  path = tmp_path_factory.mktemp("bundle") / "m.nalsuper"
  export.export_bundle(Enhancer.from_workdir(perturbed_run), path)
  return path


@pytest.mark.slow
def test_runner_keeps_16_bits_and_orientation_like_enhance(perturbed_run, bundle, tmp_path):
  image_files.write(tmp_path / "in16.png", _dark(20, 28), mode="png16")
  stored = Image.fromarray(_dark(20, 28, seed=4))
  exif = stored.getexif()
  exif[0x0112] = 6  # rotate 90 degrees clockwise to display
  stored.save(tmp_path / "rot.png", exif=exif)
  for name in ("in16.png", "rot.png"):
    assert exported.main([str(bundle), str(tmp_path / name), str(tmp_path / f"x_{name}")]) == 0
    assert cli.main(["--workdir", str(perturbed_run), "--output", str(tmp_path / "enh"), "--quiet",
                     str(tmp_path / name)]) == 0
    ours = photo_io.read_photo(tmp_path / f"x_{name}").pixels
    theirs = photo_io.read_photo(tmp_path / "enh" / name).pixels
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, name
    assert np.abs(ours.astype(np.int64) - theirs.astype(np.int64)).max() <= (
        257 if ours.dtype == np.uint16 else 1), name
  assert photo_io.read_photo(tmp_path / "x_in16.png").bits == 16
  assert photo_io.read_photo(tmp_path / "x_rot.png").pixels.shape[:2] == (28, 20)
  # and keeps a prompt's exposure words as nalsuper-enhance does
  kept = ["--prompt", "a bright photo", "--keep-exposure-words"]
  assert exported.main([str(bundle), str(tmp_path / "in16.png"), str(tmp_path / "k.png"),
                        *kept]) == 0
  assert cli.main(["--workdir", str(perturbed_run), "--output", str(tmp_path / "kept"),
                   "--quiet", *kept, str(tmp_path / "in16.png")]) == 0
  ours = photo_io.read_photo(tmp_path / "k.png").pixels.astype(np.int64)
  theirs = photo_io.read_photo(tmp_path / "kept" / "in16.png").pixels.astype(np.int64)
  assert np.abs(ours - theirs).max() <= 257
  lo, hi = captions.prompt_luma_range("a bright photo")
  assert lo <= captions.mean_luma(ours / 65535.0) < hi


def _not_a_zip(path):
  path.write_bytes(b"hello")
  return path


def _truncated_bundle(path, bundle):
  path.write_bytes(bundle.read_bytes()[:1000])
  return path


RUNNER = {
    "bundle missing": (lambda tmp, b: tmp / "none.nalsuper", r"none\.nalsuper: no such file"),
    "bundle not a zip": (lambda tmp, b: _not_a_zip(tmp / "x.nalsuper"),
                         r"x\.nalsuper: not a readable NaLSuper bundle"),
    "bundle truncated": (lambda tmp, b: _truncated_bundle(tmp / "t.nalsuper", b),
                         r"t\.nalsuper: not a readable NaLSuper bundle"),
}


@pytest.mark.slow  # loads a model
@pytest.mark.parametrize("case", sorted(RUNNER))
def test_runner_bad_bundle_is_one_line(case, bundle, tmp_path, capsys):
  make, expected = RUNNER[case]
  image_files.write(tmp_path / "a.png", _dark())
  code = exported.main([str(make(tmp_path, bundle)), str(tmp_path / "a.png"),
                        str(tmp_path / "b.png")])
  err = capsys.readouterr().err.strip().splitlines()
  assert code == 1 and len(err) == 1, err
  assert re.search(expected, err[0]), err[0]
  assert not (tmp_path / "b.png").exists()


@pytest.mark.slow  # loads a model
def test_runner_bad_image_is_named(bundle, tmp_path, capsys):
  _truncated_png(tmp_path / "broken.png")
  code = exported.main([str(bundle), str(tmp_path / "broken.png"), str(tmp_path / "b.png")])
  err = capsys.readouterr().err.strip().splitlines()
  assert code == 1 and len(err) == 1 and "broken.png: not a readable image" in err[0], err
  assert not (tmp_path / "b.png").exists()


# ---------------------------------------------------------------------------
# The decoder the dataset builders share.
# ---------------------------------------------------------------------------
def test_builders_decoder_names_truncated_16_bit_png(tmp_path):
  _truncated_png16(tmp_path / "t16.png")
  with pytest.raises(images.ImageError, match=r"t16\.png: (truncated 16-bit PNG|not a readable)"):
    images.read_rgb8(tmp_path / "t16.png")


def test_captions_that_are_not_utf8_name_the_file_and_line(tmp_path):

  path = tmp_path / "captions.jsonl"
  path.write_bytes(b'{"name": "a", "caption": "fine"}\n{"name": "b", "caption": "caf\xe9"}\n')
  with pytest.raises(ValueError, match=r"captions\.jsonl:2: byte \d+ is not UTF-8.*expected "
                                       r"a UTF-8 text file"):
    captions.load_captions_jsonl(path)


def test_skip_bad_names_each_unpaired_file(tmp_path, caplog):

  image_files.write(tmp_path / "low/a.png", _dark())
  image_files.write(tmp_path / "high/a.png", _dark())
  image_files.write(tmp_path / "low/lonely.png", _dark())
  with caplog.at_level("WARNING", logger="nalsuper_jax.data"):
    pairs = builder.pair_by_stem(tmp_path / "low", tmp_path / "high", skip_bad=True)
  assert [p.name for p in pairs] == ["a"]
  assert any("low/lonely.png: no matching image" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------
# main.py: config and workdir mistakes are one line, exit 2, before training starts.
# ---------------------------------------------------------------------------


def _file(tmp):
  (tmp / "afile").write_text("x")
  return tmp / "afile"


MAIN = {  # id: (argv after main.py, or a function of tmp_path giving it; expected message)
    "config field typo": (lambda tmp: ["--config=configs/tiny.py", f"--workdir={tmp}",
                                       "--config.train.stepz=3"],
                          r'--config\.train\.stepz: no such config field; Did you mean "steps"'),
    "config value type": (lambda tmp: ["--config=configs/tiny.py", f"--workdir={tmp}",
                                       "--config.train.steps=abc"],
                          r"--config\.train\.steps=abc: invalid literal for int"),
    "config file missing": (lambda tmp: ["--config=configs/nope.py", f"--workdir={tmp}"],
                            r"--config=configs/nope\.py: no such file; expected a Python file"),
    "config rule broken": (lambda tmp: ["--config=configs/tiny.py", f"--workdir={tmp}",
                                        "--config.data.crop=30"],
                           r"config\.data\.crop=30.*multiple of 4"),
    "workdir is a file": (lambda tmp: ["--config=configs/tiny.py", f"--workdir={_file(tmp)}"],
                          r"--workdir=.*afile: .*afile is a file; expected a folder"),
    "workdir under a file": (lambda tmp: ["--config=configs/tiny.py",
                                          f"--workdir={_file(tmp)}/run"],
                             r"--workdir=.*afile/run: .*afile is a file"),
}


@pytest.mark.parametrize("case", sorted(MAIN))
def test_main_config_and_workdir_mistakes_are_one_line(case, tmp_path):
  make, expected = MAIN[case]
  out = subprocess.run([sys.executable, "main.py", *make(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
  err = [l for l in out.stderr.splitlines() if l.startswith("main.py: ")]
  assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
  assert len(err) == 1 and re.search(expected, err[0]), out.stderr[-2000:]


@pytest.mark.slow
def test_main_missing_dataset_is_one_line_with_the_build_command(tmp_path):
  out = subprocess.run([sys.executable, "main.py", "--config=configs/tiny.py",
                        f"--workdir={tmp_path / 'run'}", "--mode=train",
                        f"--config.data.data_dir={tmp_path / 'nodata'}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
  last = out.stderr.strip().splitlines()[-1]
  assert re.search(r"main\.py: config\.data\.name='synthetic_lowlight' split 'train': not built"
                   r" in config\.data\.data_dir=.*nodata.*tfds build tfds_builders/"
                   r"synthetic_lowlight", last), last
  assert len(out.stderr) < 20_000  # not TFDS's catalogue of every dataset
  assert not (tmp_path / "run" / "config.json").exists()


def test_debug_environment_variable_adds_the_traceback(monkeypatch, capsys):

  try:
    images.read_image("missing.png")
  except images.ImageError as e:
    error = e
  usage.report("nalsuper-enhance", error)
  quiet = capsys.readouterr().err.strip().splitlines()
  assert quiet == [f"nalsuper-enhance: {error}"] and "missing.png" in quiet[0]
  monkeypatch.setenv(usage.DEBUG_ENV, "1")
  usage.report("nalsuper-enhance", error)
  loud = capsys.readouterr().err.strip().splitlines()
  assert loud[0].startswith("Traceback") and loud[-1] == quiet[0]


@pytest.mark.slow  # needs the built embedded dataset
def test_corrupt_array_record_names_the_dataset_folder_and_record(data_dir, tmp_path):


  copy = tmp_path / "tfds"
  shutil.copytree(data_dir, copy)
  (shard,) = copy.glob("synthetic_lowlight/*/*/synthetic_lowlight-train.array_record-*")
  data = bytearray(shard.read_bytes())
  middle = len(data) // 2
  data[middle:middle + 4096] = bytes(b ^ 0xFF for b in data[middle:middle + 4096])
  shard.write_bytes(bytes(data))
  source = pipeline.load_source("synthetic_lowlight", "train", str(copy))
  errors = []
  for i in range(len(source)):
    try:
      source[i]
    except pipeline.DataCorrupt as e:
      errors.append(str(e))
  assert errors, "flipping 4 KiB in the middle of the shard must damage a record"
  assert re.search(rf"^{re.escape(str(shard.parent))}: record \d+ of config\.data\.name="
                   r"'synthetic_lowlight' split 'train' is unreadable \(.*\); expected an intact "
                   r"build", errors[0]), errors[0]


# ---------------------------------------------------------------------------
# Full and read-only disks (a private tmpfs in a user+mount namespace; no root needed).
# ---------------------------------------------------------------------------
def _namespaces_work() -> bool:
  try:
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True,
                          timeout=30).returncode == 0
  except (OSError, subprocess.TimeoutExpired):
    return False


needs_namespaces = pytest.mark.skipif(not _namespaces_work(),
                                      reason="needs `unshare -rm` (user namespaces) for a tmpfs")

_FULL_DISK = r"""
set -u
mount -t tmpfs -o size=32m tmpfs "$DISK" || exit 90
run() { "$PY" main.py --config=configs/tiny.py --workdir="$DISK/run" --mode=train \
          --config.data.data_dir="$DATA" --config.train.checkpoint_every=4 \
          --config.train.steps=$1 >"$LOGS/$2.out" 2>"$LOGS/$2.err"; echo $? >"$LOGS/$2.rc"; }
fill() { dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null; truncate -s -$1K "$DISK/filler"; }
cp -a "$FIRST" "$DISK/run"
fill 400; run 16 nospace_for_checkpoint
ls "$DISK/run/checkpoints" >"$LOGS/after_nospace.ls"
rm "$DISK/filler"; fill 0; run 16 disk_full
rm "$DISK/filler"; run 16 resumed
ls "$DISK/run/checkpoints" >"$LOGS/after_resume.ls"
"""


@pytest.mark.slow
@needs_namespaces
def test_full_disk_during_training_is_one_line_and_keeps_the_last_checkpoint(data_dir,
                                                                             trained_run,
                                                                             tmp_path):
  """Was: 867 tracebacks from TensorStore's writer threads and the cause lost.

  The shared 12-step run (checkpoints 8 and 12) is copied onto the small disk;
  main.py, asked for 16 steps, then meets it full, then empty."""
  logs = tmp_path / "logs"
  logs.mkdir()
  (tmp_path / "disk").mkdir()
  env = dict(os.environ, DISK=str(tmp_path / "disk"), LOGS=str(logs), DATA=data_dir,
             PY=sys.executable, FIRST=str(trained_run))
  out = subprocess.run(["unshare", "-rm", "bash", "-c", _FULL_DISK], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  rc = lambda name: int((logs / f"{name}.rc").read_text())
  err = lambda name: (logs / f"{name}.err").read_text()
  # Too little space for the next checkpoint: said before writing, step 4 kept.
  assert rc("nospace_for_checkpoint") == 1 and "Traceback" not in err("nospace_for_checkpoint")
  last = err("nospace_for_checkpoint").strip().splitlines()[-1]
  assert re.fullmatch(r"main\.py: .*/run/checkpoints: cannot save checkpoint 16: [\d.]+ MiB free "
                      r"on its disk, about [\d.]+ MiB needed; the last good checkpoint is step "
                      r"12 \(kept\)\. Free space and rerun the same command to resume", last), last
  assert (logs / "after_nospace.ls").read_text().split() == ["12", "8"]  # nothing half-written
  # No space at all: the first write (config.json) fails, named in one line.
  assert rc("disk_full") == 1 and "Traceback" not in err("disk_full"), err("disk_full")[-2000:]
  last = err("disk_full").strip().splitlines()[-1]
  assert re.fullmatch(r"main\.py: .*/run(/\S+)?: No space left on device; expected a writable "
                      r"--workdir with free space .*", last), last
  # Space freed: the same command resumes from step 4 and finishes.
  assert rc("resumed") == 0, err("resumed")[-2000:]
  assert "resuming from step 12" in err("resumed")
  assert (logs / "after_resume.ls").read_text().split() == ["12", "16"]


_READ_ONLY = r"""
mount -t tmpfs -o size=1m tmpfs "$RO" && mount -o remount,ro "$RO" || exit 90
exec "$@"
"""


@needs_namespaces
@pytest.mark.parametrize("tool", ["main.py", "nalsuper-enhance"])
def test_read_only_output_is_refused_before_anything_loads(tool, tmp_path):
  """A read-only filesystem (as the tests run as root, mode bits would not stop them)."""
  folder = tmp_path / "readonly"
  folder.mkdir()
  if tool == "main.py":
    argv = [sys.executable, "main.py", "--config=configs/tiny.py", f"--workdir={folder}/run"]
    expected = rf"main\.py: --workdir={folder}/run: {folder} is not writable; expected a folder"
  else:
    work = tmp_path / "listed"
    (work / "checkpoints" / "7").mkdir(parents=True)
    (work / "config.json").write_text(json.dumps(tiny.get_config().to_dict(), default=str))
    image_files.write(tmp_path / "a.png", _dark())
    argv = [sys.executable, "-m", "nalsuper_jax.enhance", "--workdir", str(work),
            "--output", str(folder / "out"), str(tmp_path / "a.png")]
    expected = rf"nalsuper-enhance: --output={folder}/out: {folder} is not writable"
  out = subprocess.run(["unshare", "-rm", "bash", "-c", _READ_ONLY, "ro", *argv], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, RO=str(folder)))
  lines = [l for l in out.stderr.splitlines() if l.strip()]
  assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-2000:]
  assert re.search(expected, lines[-1]), lines[-1]
  assert list(folder.iterdir()) == []  # the mount is gone with its namespace; nothing here


_FULL_OUTPUT = r"""
mount -t tmpfs -o size=64k tmpfs "$FULL" || exit 90
dd if=/dev/zero of="$FULL/filler" bs=4k 2>/dev/null
"$@"; rc=$?
rm "$FULL/filler"; ls -A "$FULL" >"$LISTING"
exit $rc
"""


@pytest.mark.slow
@needs_namespaces
def test_full_output_disk_names_each_output_and_leaves_nothing_partial(perturbed_run, tmp_path):
  """Was: a bare `[Errno 28]` per input, naming no file."""
  photos = tmp_path / "photos"
  for i in range(2):
    image_files.write(photos / f"p{i}.png", _dark(64, 64, seed=i))
  full = tmp_path / "full"
  full.mkdir()
  argv = [sys.executable, "-m", "nalsuper_jax.enhance", "--workdir", str(perturbed_run),
          "--output", str(full), "--quiet", str(photos)]
  out = subprocess.run(["unshare", "-rm", "bash", "-c", _FULL_OUTPUT, "full", *argv], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, FULL=str(full), LISTING=str(tmp_path / "ls")))
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
  errors = [l for l in out.stderr.splitlines() if l.startswith("nalsuper-enhance: ")]
  for i in range(2):
    assert any(re.fullmatch(rf"nalsuper-enhance: {full}/p{i}\.png: could not write \(No space "
                            r"left on device\); expected a writable folder with free space", l)
               for l in errors), errors
  assert "0 enhanced, 0 skipped, 2 failed" in out.stdout
  assert (tmp_path / "ls").read_text().split() == []  # no partial or temporary file
