"""Real photos from installed Debian packages and Python wheels (builds offline)."""
