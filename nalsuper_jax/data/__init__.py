"""Data: image reading, captions, synthetic low light, TFDS builders' core, grain pipelines."""
