# Shanyraq: `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
# Test processes (pytest-xdist): 2 for the 2 cores of CI, each with its own servers;
# `make test TEST_WORKERS=0` runs the suite in one process. Each test file runs in one process
# (--dist loadfile), so a module's shared set-up (a trained model, a seeded store) is made
# once, not once per process: 13 % less wall time than --dist load on tests/welfare and
# tests/training (272 vs 314 s), 4 % on tests/vision and tests/shanyraq, same machine.
TEST_WORKERS ?= 2
export NO_ALBUMENTATIONS_UPDATE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Python keeps the bytecode it compiles (__pycache__/, ignored by git): every CLI child, server
# and Ray worker the tests start imports the same modules, and compiles them anew from source
# without it (7 % of the CPU of the tests that start most of them). `unexport`, not just no
# `export`: a shell that sets PYTHONDONTWRITEBYTECODE=1 (this project's own machines do) would
# otherwise hand it to every command below.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: all demo test lint labelstudio chromium bench venv clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[serve,annotate,ray,dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

# mypy in 2 worker processes (mypy 2's --num-workers): a clean check of the whole project in
# 40 s instead of 67, the last step of the set-up before pytest (the project's venv ends after
# Label Studio's), same findings.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --num-workers 2

# The set-up runs side by side (`-j 3`): Label Studio's own venv and Chromium install while the
# project's venv installs and the lint runs; each one's output is shown whole when it ends
# (`-O`). A failure in any of them stops `make test` before pytest.
test:
	$(MAKE) --no-print-directory -j 3 -O lint labelstudio chromium
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

labelstudio:
	PYTHON=$(PYTHON) scripts/labelstudio.sh

# Exit 3: Chromium cannot be installed here; the browser tests then skip, saying why.
chromium:
	bash scripts/chromium.sh || [ $$? -eq 3 ]

# `make bench ONLY="bench_service bench_engine"` re-runs some and updates their rows only.
bench: $(STAMP)
	$(PY) -m benchmarks.run $(ONLY)

demo: $(STAMP)
	$(VENV)/bin/shanyraq demo


clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
