"""Embedded synthetic low-light dataset (builds offline)."""
