"""Shared fixtures. Tests run on the CPU in float32 and are seconds each."""

from importlib import metadata
import os
import pathlib
import shutil
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
# XLA's CPU optimisation passes cost more than the tiny programs they speed up
# (a forward pass compiles in ~3 s instead of ~5 s, the train step in ~8 s
# instead of ~16 s). Tests compare runs made under the same flags, or against
# references with tolerances relative to the values. Subprocesses inherit it.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# jaxlib 0.10: XLA CPU's older elemental emitter compiles the tiny train step in
# ~8 s instead of ~13 s and loads it from the cache in ~1 s instead of ~2.3 s
# (AMD EPYC, 2 cores); steps run as fast. jaxlib 0.11's XLA has no such flag
# (and aborts on flags it does not know). Appended, so
# `XLA_FLAGS=--xla_cpu_max_isa=AVX2` (another machine's rounding) still applies;
# subprocesses inherit it.
TEST_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false"
JAXLIB_VERSION = tuple(int(p) for p in metadata.version("jaxlib").split(".")[:2])
if JAXLIB_VERSION < (0, 11) and TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

import filelock  # noqa: E402
import jax  # noqa: E402
import pytest  # noqa: E402
from xdist import scheduler  # noqa: E402

# In case a plugin imported JAX before the variables above were set.
jax.config.update("jax_disable_most_optimizations",
                  os.environ["JAX_DISABLE_MOST_OPTIMIZATIONS"] == "1")
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(scope="session")
def minilm():
  """The offline default encoder (real all-MiniLM-L6-v2 weights)."""
  # Deferred, like the fixtures below: conftest loads in every worker, and the
  # tests that need none of these should not pay their imports.
  from nalsuper_jax import text  # pylint: disable=import-outside-toplevel
  return text.load_text_encoder(text.default_config())


def _shared_folder(tmp_path_factory) -> pathlib.Path:
  """The run's base temporary folder, the same for every pytest-xdist worker."""
  base = tmp_path_factory.getbasetemp()
  return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """The embedded `synthetic_lowlight` set, built once per test run.

  pytest-xdist workers share the run's base temporary folder; the first to
  take the lock builds, the others wait and reuse it (a build is ~20 s).
  """
  # Deferred: the builder imports TensorFlow Datasets (and TensorFlow).
  from tfds_builders.synthetic_lowlight import (  # pylint: disable=import-outside-toplevel
      synthetic_lowlight_dataset_builder as synthetic)
  shared = _shared_folder(tmp_path_factory)
  with filelock.FileLock(str(shared / "tfds.lock")):
    # An already prepared set is reused (TFDS checks its dataset_info.json).
    synthetic.Builder(data_dir=str(shared / "tfds")).download_and_prepare()
  return str(shared / "tfds")


def _written_once(tmp_path_factory, name: str, write) -> pathlib.Path:
  """`<the run's shared folder>/<name>`: the first worker to take its lock calls
  `write(folder)` on a temporary name and renames it when complete; the others
  wait and reuse it."""
  shared = _shared_folder(tmp_path_factory)
  path = shared / name
  with filelock.FileLock(str(shared / f"{name}.lock")):
    if not path.is_dir():
      partial = shared / f"{name}.partial"
      shutil.rmtree(partial, ignore_errors=True)
      write(partial)
      partial.rename(path)
  return path


@pytest.fixture(scope="session")
def trained_run(data_dir, tmp_path_factory):
  """The tiny config's uninterrupted 12-step run (`runs.trained_config(data_dir)`),
  trained once per test run and shared by the workers like `data_dir`. Tests
  read it, or copy it before they change it."""
  # Deferred: train imports TensorFlow (through clu); only slow tests use this.
  from nalsuper_jax import train  # pylint: disable=import-outside-toplevel
  from tests import runs  # pylint: disable=import-outside-toplevel
  return _written_once(tmp_path_factory, "trained_run",
                       lambda folder: train.run(runs.trained_config(data_dir), folder))


@pytest.fixture(scope="session")
def perturbed_run(tmp_path_factory):
  """A `tiny` workdir whose weights are moved off their initialisation, so that
  prompts change the output (`runs.perturbed_workdir`): what the inference
  tests load. Written once per test run and shared like `trained_run`; tests
  read it, or copy it before they change it."""
  from tests import runs  # pylint: disable=import-outside-toplevel  # deferred as above
  return _written_once(tmp_path_factory, "perturbed_run", runs.perturbed_workdir)


class _CasesTogether(scheduler.LoadScopeScheduling):
  """pytest-xdist's `load` distribution, except that the parametrized cases of
  one test go to one worker: they share fixtures (a trained workdir, one CLI
  run over a folder of bad files) that each worker would otherwise build
  again (~40 s each with an empty compilation cache). xdist's
  own `xdist_group` marks cannot do it under pytest 9: they rename items
  through an attribute pytest no longer reads."""

  def _split_scope(self, nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def pytest_xdist_make_scheduler(config, log):
  if config.getvalue("dist") == "load":   # what `-n N` uses unless told otherwise
    return _CasesTogether(config, log)
  return None


# The modules holding the longest tests, longest first (the two-process run,
# ~2 min on 2 cores; then tests of 15-35 s each): first among the tests of one
# case, so that the short tests fill in beside them and the run ends on short
# tests (in collection order `warm_start_test.py`'s 17 s test came last, and
# the other worker idled). xdist hands out the tests with the most cases before
# those (its `--loadscope-reorder`, kept: with the longest tests first of all,
# both workers begin by needing the shared dataset and trained run, and one
# waited ~22 s for the other to build them; BENCHMARKS.md, "Test suite times").
LONGEST_FIRST = ("multiprocess_test.py", "train_test.py", "checkpoints_test.py",
                 "bad_inputs_test.py", "warm_start_test.py", "bench_test.py",
                 "data_builders_test.py", "text_cache_test.py", "enhance_test.py",
                 "text_control_test.py")


def pytest_collection_modifyitems(config, items):
  del config
  rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
  items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable
