# mmseg_semeda: set-up, demo and tests.
#
#   make demo    create the environment if missing, then run the demo
#   make test    create the environment if missing, then run the test suite
#
# The environment lives in $(VENV) (override: make test VENV=/path/to/venv).
# First install builds mmcv 2.1.0 with its CPU ops from source (about 10-12 minutes
# on 2 cores); pip caches the wheel, and the stamp file below makes later runs reuse it.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_INSTALL := $(PIP) install -c requirements/constraints.txt
STAMP := $(VENV)/.mmseg_semeda-stack
MAX_JOBS ?= 2
DATA ?=
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: install demo test lint clean-venv

$(STAMP): requirements/stack.txt requirements/constraints.txt requirements/tests.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) "setuptools<81" wheel
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -r requirements/stack.txt
	MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$(MAX_JOBS) $(PIP_INSTALL) --no-build-isolation "mmcv==2.1.0"
	$(PIP_INSTALL) "mmsegmentation==1.2.2" ftfy regex
	$(PIP_INSTALL) -r requirements/tests.txt
	touch $(STAMP)

install: $(STAMP)
	$(PIP_INSTALL) --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "import mmseg.models, mmseg_semeda; print('mmseg_semeda', mmseg_semeda.__version__, 'ready in $(VENV)')"

demo: install
	$(PY) tools/demo.py $(if $(DATA),--data-root $(DATA)) $(DEMO_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check mmseg_semeda tools tests configs

clean-venv:
	rm -rf $(VENV)
