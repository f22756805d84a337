"""SID (Sony, sRGB-processed) paired low-light dataset."""
