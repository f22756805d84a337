"""The one place we reach into a TFDS internal, and why.

TFDS serialises a record's feature map in hash order, which changes from
process to process (PYTHONHASHSEED), so two builds of the same data wrote
different `array_record` files and nobody could check a build by its bytes.
TFDS has no hook for its serializer; `deterministic_serialization` swaps its
one method for the deterministic form (same bytes for the same content)
while a build runs, and puts it back after.

Written against tensorflow-datasets 4.9.x (`ExampleSerializer.serialize_example`
and `.get_tf_example`). If a later TFDS renames them, the build stops with a
message saying so rather than writing files in a silently different way.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from tensorflow_datasets.core import example_serializer

TESTED_WITH = "tensorflow-datasets 4.9"


@contextlib.contextmanager
def deterministic_serialization() -> Iterator[None]:
  """While active, TFDS writes each tf.train.Example with its map sorted."""
  cls = example_serializer.ExampleSerializer
  if not (hasattr(cls, "serialize_example") and hasattr(cls, "get_tf_example")):
    raise RuntimeError(
        "tensorflow_datasets.core.example_serializer.ExampleSerializer has no "
        "serialize_example/get_tf_example: this TFDS differs from the one "
        f"nalsuper_jax.data.tfds_compat was written for ({TESTED_WITH}); pin that version "
        "or update tfds_compat.py")
  original = cls.serialize_example

  def serialize_example(self, example):
    return self.get_tf_example(example).SerializeToString(deterministic=True)

  cls.serialize_example = serialize_example
  try:
    yield
  finally:
    cls.serialize_example = original
