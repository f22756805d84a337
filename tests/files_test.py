"""The one atomic writer, and reports that survive awkward names."""

import csv
import io

import pytest

from nalsuper_jax import evaluate, files


def test_write_atomic_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path):
  target = tmp_path / "deep" / "report.json"
  files.write_atomic(target, "first")
  files.write_atomic(target, b"second")
  assert target.read_text() == "second"
  with pytest.raises(TypeError):
    files.write_atomic(target, object())  # fails after the temporary file is opened
  assert target.read_text() == "second"  # the old file is untouched
  assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_per_image_csv_quotes_names_with_commas_and_quotes():
  text = evaluate._csv(["name", "psnr"], [["a, b", "21.0000"], ['say "hi"', "19.5000"]])  # pylint: disable=protected-access
  assert list(csv.reader(io.StringIO(text))) == [["name", "psnr"], ["a, b", "21.0000"],
                                                 ['say "hi"', "19.5000"]]
