"""`python -m nalsuper_jax.enhance` = `nalsuper-enhance`."""

import sys

from nalsuper_jax.enhance.cli import main

sys.exit(main())
