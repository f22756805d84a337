"""The test suite (a package, so tests import their shared helpers as `tests.*`)."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]  # the repository: main.py, configs/
