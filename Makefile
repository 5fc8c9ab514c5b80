# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench

$(BIN)/ealstm: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: on these machines this takes the local CPU wheel instead of a CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/ealstm

setup: $(BIN)/ealstm

demo: setup
	$(BIN)/ealstm demo --out runs/demo

# The lint runs first (a second): CI runs `make test` only.
test: lint
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check ealstm tests benchmarks
