"""Reproducible measurements; each script prints and records its numbers."""

from nalsuper_jax import allocator

# `python -m bench.<script>` runs with tcmalloc, as `main.py` and `nalsuper-enhance`
# do, so the numbers are those users get.
allocator.preload_if_run_as_module()
