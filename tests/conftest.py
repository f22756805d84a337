"""Shared fixtures. Tests run on the CPU in float32 and are seconds each."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def minilm():
  """The offline default encoder (real all-MiniLM-L6-v2 weights)."""
  from nalsuper_jax import text
  return text.load_text_encoder(text.default_config())
