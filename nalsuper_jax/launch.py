"""The console scripts' entry points: choose the allocator, then load the tool.

`allocator.preload()` may re-execute the process, so it runs before the tools'
modules import JAX and TensorFlow (seconds that would otherwise be spent twice).
"""

from __future__ import annotations

from nalsuper_jax import allocator


def enhance() -> int:
  """`nalsuper-enhance` (nalsuper_jax.enhance.cli)."""
  allocator.preload()
  from nalsuper_jax.enhance import cli  # pylint: disable=import-outside-toplevel  # after preload
  return cli.main()


def export() -> int:
  """`nalsuper-export` (nalsuper_jax.enhance.export)."""
  allocator.preload()
  from nalsuper_jax.enhance import export as export_  # pylint: disable=import-outside-toplevel
  return export_.main()
