"""Golden files written by reference implementations (each writer names its own)."""

import pathlib

# Text encoders: tiny Hugging Face checkpoints and the PyTorch models' outputs
# on them (`python -m tests.goldens.make_text_goldens`).
TEXT = pathlib.Path(__file__).resolve().parent / "text"
