"""LOLv2 (real and synthetic) paired low-light dataset."""
