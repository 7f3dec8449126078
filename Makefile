# Every target bootstraps .venv/ from requirements.lock first; nothing needs to be installed by hand.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
# Installed packages and our own are byte-compiled once at install time (as pip does, uv does not by
# default): with PYTHONDONTWRITEBYTECODE set, every `cirasa` process and flow run otherwise recompiles
# prefect, astropy and scipy on import (about 1 s per process).
PACKAGES := planner science flows cirasa bench
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never
export DO_NOT_TRACK := 1

.PHONY: venv lock lint test test-fast demo bench clean-var

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@test -x $(UV) || $(PY) -m pip install -q uv==$(UV_VERSION)
	$(UV) pip sync -q --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	$(PY) -m compileall -q $(PACKAGES)
	@touch $@

venv: $(STAMP)

lock: | venv
	$(UV) pip compile pyproject.toml --group dev --generate-hashes --python-version 3.11 --no-header -q -o requirements.lock
	$(UV) pip compile pyproject.toml --group dev --group bench --generate-hashes --python-version 3.11 --no-header -q -o requirements-bench.lock

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collected no test: that is a failure here, said in words.
test: lint
	@$(VENV)/bin/pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

test-fast: venv
	$(VENV)/bin/pytest -m "not slurm and not prefect and not postgres"

demo: venv
	$(VENV)/bin/cirasa demo

# `make bench` runs them all; `make bench BENCH="broker planner"` some. The benchmarks add the peers they compare with (sep, photutils, Aegean); `make venv` takes them out again.
bench: venv
	$(UV) pip sync -q --compile-bytecode --python $(PY) requirements-bench.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	$(PY) -m compileall -q $(PACKAGES)
	@rm -f $(STAMP)
	$(VENV)/bin/python -m bench $(BENCH)

clean-var:
	-$(VENV)/bin/cirasa server down
	rm -rf var/
