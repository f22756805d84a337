"""Comparing a loaded parameter tree's shapes with the tree a config builds.

Four readers make this check: a training checkpoint's restore, a shipped
model (`shipped`), a warm start's source (`warm_start`) and a Hugging Face
text tower (`text.encoder`). One comparison keeps their verdicts the same;
each words its own error.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import jax

Shape = tuple[int, ...]


class Difference(NamedTuple):
  """One leaf whose shape differs; None where the leaf is absent on that side."""
  path: str
  found: Shape | None
  expected: Shape | None


def leaf_path(keys: Sequence[Any]) -> str:
  """'image/tcm/dense/kernel' for a `tree_flatten_with_path` key path."""
  return "/".join(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in keys)


def shapes(tree: Any) -> dict[str, Shape]:
  """{leaf path: shape} of the leaves that have one (arrays, structs, metadata)."""
  return {leaf_path(p): tuple(x.shape) for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]
          if hasattr(x, "shape")}


def differences(found: Any, expected: Any) -> list[Difference]:
  """Every leaf missing from `found`, extra in it, or shaped otherwise, by path."""
  have, want = shapes(found), shapes(expected)
  return [Difference(name, have.get(name), want.get(name))
          for name in sorted(set(have) | set(want)) if have.get(name) != want.get(name)]
