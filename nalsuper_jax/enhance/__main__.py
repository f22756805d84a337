"""`python -m nalsuper_jax.enhance` = `nalsuper-enhance` (tcmalloc first: launch.py)."""

import sys

from nalsuper_jax import launch

sys.exit(launch.enhance())
