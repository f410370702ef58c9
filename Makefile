# A newcomer needs two commands: `make demo` and `make test`.
# Both create a local virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Most tests keep one core busy: one pytest worker per core of a 2-core machine (override with
# `make test TEST_WORKERS=4`, or 0 for one process); tests/conftest.py says which tests stay together.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS)

demo: $(STAMP)
	$(PY) -m autograd_lab demo

# Benchmark references (micrograd, torch==2.13.0) live in the `bench` extra.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
