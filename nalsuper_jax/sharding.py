"""Device mesh and logical-axis sharding rules.

Parameters carry logical axis names (see `layers.partitioned`); the rules
here map those names to mesh axes. Replicated parameters (pure data
parallelism) and FSDP-style sharded ones differ only by `config.sharding.fsdp`
and the mesh shape -- the train step never mentions device counts.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

BATCH_AXES = ("data", "fsdp")

# Logical parameter axes that FSDP shards over the "fsdp" mesh axis (the
# output width of every conv/dense layer); everything else is replicated.
FSDP_RULES: tuple[tuple[str, str | None], ...] = (
    ("conv_out", "fsdp"), ("mlp", "fsdp"), ("heads", "fsdp"), ("embed", None),
    ("conv_in", None), ("norm", None), ("text_embed", None), ("vocab", None),
)
REPLICATED_RULES: tuple[tuple[str, str | None], ...] = tuple((name, None) for name, _ in FSDP_RULES)


def make_mesh(mesh_config: ml_collections.ConfigDict,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A ("data", "fsdp") mesh; `data=-1` takes every device fsdp leaves."""
  devices = list(devices if devices is not None else jax.devices())
  fsdp = int(mesh_config.fsdp)
  data = int(mesh_config.data)
  if data == -1:
    if len(devices) % fsdp:
      raise ValueError(f"config.mesh.fsdp={fsdp} does not divide {len(devices)} devices")
    data = len(devices) // fsdp
  if data * fsdp != len(devices):
    raise ValueError(f"config.mesh: data={data} x fsdp={fsdp} != {len(devices)} devices")
  return jax.make_mesh((data, fsdp), BATCH_AXES, devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,) * 2)


def rules(sharding_config: ml_collections.ConfigDict) -> tuple[tuple[str, str | None], ...]:
  return FSDP_RULES if sharding_config.fsdp else REPLICATED_RULES


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over every device."""
  return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _spec_for(names: tuple, shape: tuple[int, ...], mesh_shape: Mapping[str, int],
              rule_map: dict) -> P:
  """Logical names -> mesh axes, leaving a dim unsharded if it does not divide."""
  axes = []
  for name, dim in zip(names, shape):
    axis = rule_map.get(name) if name is not None else None
    if axis is not None and dim % mesh_shape[axis]:
      axis = None
    axes.append(axis)
  return P(*axes)


def param_specs(boxed_abstract: Any, mesh_shape: Mapping[str, int],
                axis_rules: Sequence[tuple[str, str | None]]) -> Any:
  """PartitionSpecs for an (abstract) parameter tree still holding axis names.

  A pure function of the mesh's shape (no devices needed); leaves without
  names (e.g. optimizer counters) are replicated.
  """
  rule_map = dict(axis_rules)

  def one(leaf):
    if isinstance(leaf, nn.Partitioned):
      return _spec_for(leaf.names, leaf.value.shape, mesh_shape, rule_map)
    return P()
  return jax.tree.map(one, boxed_abstract, is_leaf=lambda x: isinstance(x, nn.Partitioned))


def param_shardings(boxed_abstract: Any, mesh: Mesh,
                    axis_rules: Sequence[tuple[str, str | None]]) -> Any:
  """NamedShardings over `mesh` for `param_specs`."""
  return jax.tree.map(lambda spec: NamedSharding(mesh, spec),
                      param_specs(boxed_abstract, dict(mesh.shape), axis_rules),
                      is_leaf=lambda x: isinstance(x, P))


def global_batch(local: dict[str, np.ndarray | jax.Array],
                 sharding: NamedSharding) -> dict[str, jax.Array]:
  """This process's slice of the batch -> one global array per field.

  A field already on the device (the text-feature cache's) is placed without
  a round trip through the host in a one-process run, so nothing waits for it
  to be computed; with several processes it goes through the host as the
  other fields do.
  """
  def place(v):
    if isinstance(v, jax.Array) and jax.process_count() == 1:
      return jax.device_put(v, sharding)
    return jax.make_array_from_process_local_data(sharding, np.asarray(v))
  return {k: place(v) for k, v in local.items()}
