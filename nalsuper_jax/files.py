"""Atomic file writes: a reader, or a crash half-way, never sees half a file.

One writer for every file we produce (config.json, evaluation reports and
pictures, enhanced photos, export bundles, bench results): the data goes to a
hidden temporary name beside the target, which is then renamed over it. It
works on local paths and on `gs://` alike (`etils.epath`), and a failed write
(a full disk) removes its temporary file.
"""

from __future__ import annotations

import os

from etils import epath

PARTIAL_SUFFIX = ".partial"  # temporary files end in this; never left behind


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
  """Writes `data` to `path` through a temporary name and a rename."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
  try:
    if isinstance(data, str):
      tmp.write_text(data)
    else:
      tmp.write_bytes(data)
    tmp.replace(path)
  finally:
    if tmp.exists():
      tmp.unlink()
