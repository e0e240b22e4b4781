# The README's two commands: `make demo` and `make test`.
# Both create .venv/ when missing, install the pinned requirements and the
# package (skipped when already done), then run.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.anaus_installed
DEMO_DIR ?= data/demo
DEMO_NUM ?= 40
DEMO_WORK_DIR ?= work_dirs/demo
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: setup demo test clean-demo

setup: $(STAMP)

$(STAMP): requirements/runtime.txt requirements/tests.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[anaus_mm] installing pinned requirements into $(VENV)/ (first time: ~2 min)"
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements/runtime.txt -r requirements/tests.txt 2>&1 | sed '/is ignored: it is neither a file nor a directory/d'
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | sed '/is ignored: it is neither a file nor a directory/d'
	@$(PY) -c "import anaus_mm; print('[anaus_mm] installed', anaus_mm.__version__)"
	@touch $(STAMP)

demo: setup
	@$(PY) tools/demo.py --data-dir $(DEMO_DIR) --num $(DEMO_NUM) --work-dir $(DEMO_WORK_DIR)

# two pytest workers, one torch thread each (2 cores: ~3.5 min instead of
# ~6.5 min with one worker)
# yapf (imported by mmengine) writes its grammar cache to ~/.cache/YAPF on
# first import; two workers importing it at once on a fresh machine race on
# that file (EOFError while collecting), so one import warms it first.
test: setup
	@$(PY) -c "import yapf"
	@OMP_NUM_THREADS=1 $(PY) -m pytest tests -q -p no:cacheprovider -n 2

clean-demo:
	rm -rf $(DEMO_DIR) $(DEMO_DIR)_heldout $(DEMO_WORK_DIR)
