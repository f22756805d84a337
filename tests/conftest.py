"""Shared fixtures. Tests run on the CPU in float32 and are seconds each."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One persistent XLA compilation cache for the whole run, shared by the pytest
# workers and every subprocess they start (main.py, two-process runs): the
# tiny network's init and train step are the same programs in most tests, and
# compiling them dominates a test's time on 2 cores.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "nalsuper-jax-test-xla-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def minilm():
  """The offline default encoder (real all-MiniLM-L6-v2 weights)."""
  from nalsuper_jax import text
  return text.load_text_encoder(text.default_config())


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """The embedded `synthetic_lowlight` set, built once per test process."""
  from tfds_builders.synthetic_lowlight import synthetic_lowlight_dataset_builder as synthetic
  path = tmp_path_factory.mktemp("tfds")
  synthetic.Builder(data_dir=str(path)).download_and_prepare()
  return str(path)
