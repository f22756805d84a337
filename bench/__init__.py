"""Reproducible measurements; each script prints and records its numbers."""
