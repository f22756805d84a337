"""Enhancing users' photos: `Enhancer` (Python), `nalsuper-enhance` (CLI), export."""

from nalsuper_jax.enhance.enhancer import Enhancer
from nalsuper_jax.enhance.photo_io import Photo, read_photo, write_photo

__all__ = ["Enhancer", "Photo", "read_photo", "write_photo"]
