"""TFDS dataset builders, one folder each (`tfds build tfds_builders/<name>`)."""
