# Source on the accelerator machine, in the repository root, after carrying .whl
# and .kit (make_kit.sh): installs the wheels into /tmp/kit-site, widens MiniLM
# to float32 in /tmp/minilm, and puts the stand-ins and the repo on PYTHONPATH.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/kit-site .whl/*.whl || return 1
export PYTHONPATH=$PWD/.kit/site:/tmp/kit-site:$PWD PYTHONUNBUFFERED=1
export NALSUPER_KIT_MINILM=/tmp/minilm
test -f /tmp/minilm/model.safetensors || python3 - <<'PY'
import pathlib, shutil
import numpy as np
from safetensors.numpy import load_file, save_file
src, dst = pathlib.Path(".kit/minilm"), pathlib.Path("/tmp/minilm")
dst.mkdir(parents=True, exist_ok=True)
for f in src.iterdir():
  if f.name != "model16.safetensors":
    shutil.copy(f, dst / f.name)
tensors = load_file(str(src / "model16.safetensors"))
save_file({k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in tensors.items()},
          str(dst / "model.safetensors"))
PY
