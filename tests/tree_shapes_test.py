"""The one shape comparison the checkpoint, shipped-model, warm-start and
text-tower readers share."""

import jax
import numpy as np

from nalsuper_jax import tree_shapes


def test_differences_name_missing_extra_and_reshaped_leaves_by_path():
  expected = {"image": {"conv": {"kernel": jax.ShapeDtypeStruct((3, 3, 4, 8), np.float32),
                                 "bias": jax.ShapeDtypeStruct((8,), np.float32)},
                        "head": [jax.ShapeDtypeStruct((8, 3), np.float32)]}}
  found = {"image": {"conv": {"kernel": np.zeros((3, 3, 4, 16), np.float32)},
                     "head": [np.zeros((8, 3), np.float32)],
                     "extra": np.zeros(2, np.float32)}}
  assert tree_shapes.differences(found, expected) == [
      ("image/conv/bias", None, (8,)),
      ("image/conv/kernel", (3, 3, 4, 16), (3, 3, 4, 8)),
      ("image/extra", (2,), None)]
  assert tree_shapes.differences(expected, expected) == []
  assert tree_shapes.shapes(found)["image/head/0"] == (8, 3)
