"""LOLv1 paired low-light dataset."""
