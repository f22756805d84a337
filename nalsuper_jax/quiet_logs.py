"""Library log records our entry points drop, so that what remains is ours.

Orbax, TFDS and etils log through absl, so their records all arrive on the
"absl" logger beside ours: they are matched by source path, not logger name.
Their INFO chatter is dropped; their warnings are kept, except those that
only say we got what we asked for (`EXPECTED_WARNINGS`, matched by prefix).
`main.py`, `nalsuper-enhance` and `bench.text_control` (the end of `make
demo`) install it; the Python API leaves the caller's logging alone.
"""

from __future__ import annotations

import logging

LIBRARIES = ("orbax", "tensorflow_datasets", "etils")
EXPECTED_WARNINGS = (
    # At every save between evaluations, although keeping the best step by
    # eval PSNR is what we asked for (saves without metrics are not candidates).
    "Requested `tracked_metric`; did not provide metrics.",
    # Whenever weights are read for inference: read-only is what we asked for.
    "CheckpointManagerOptions.read_only=True",
    "Given directory is read only=",
    # Orbax registering its own array handler over a default one.
    'Type handler registry type "<class \'jax.Array\'>" overriding jax.Array',
    # TFDS decoding images with PIL: the requirements install no OpenCV.
    "OpenCV is not installed.",
)


class QuietLibraries(logging.Filter):
  """Drops the libraries' INFO records and their expected warnings."""

  def filter(self, record: logging.LogRecord) -> bool:
    if not any(f"/{lib}/" in record.pathname for lib in LIBRARIES):
      return True
    if record.levelno >= logging.WARNING:
      return not record.getMessage().startswith(EXPECTED_WARNINGS)
    return False


def install() -> None:
  """On the "absl" logger (records logged there later) and the handlers
  present now (records that reach them from other loggers); once each."""
  for target in [logging.getLogger("absl"), *logging.getLogger().handlers,
                 *logging.getLogger("absl").handlers]:
    if not any(isinstance(f, QuietLibraries) for f in target.filters):
      target.addFilter(QuietLibraries())
