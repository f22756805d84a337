"""Reproducible measurements; each script prints and records its numbers."""

import sys

from nalsuper_jax import allocator

# `python -m bench.<script>` runs with tcmalloc, as `main.py` and `nalsuper-enhance` do, so
# the numbers are those users get. Python sets sys.argv[0] to "-m" while it
# locates the module (the docs of -m), i.e. while this package is imported for
# it: importing bench elsewhere (the tests) leaves the process alone.
if sys.argv[:1] == ["-m"]:
  allocator.preload()
