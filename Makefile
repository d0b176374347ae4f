# One command per chore; the same locally and in CI.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo demo-up test lint typecheck unit bench bench-quick bench-propagation services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## The demo shop end to end: authority + services, scripted scenario, table, exit code.
demo: setup
	$(BIN)/jwtmesh demo

demo-up: setup
	$(BIN)/jwtmesh demo up

## Everything CI checks: format, lint, types, then the whole test suite.
test: setup services lint typecheck unit

lint: setup
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/ruff check src tests scripts

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

services:
	@bash scripts/ensure_services.sh

bench: setup services
	$(BIN)/jwtmesh bench --out results

bench-quick: setup services
	$(BIN)/jwtmesh bench --quick --out results-quick

bench-propagation: setup services
	$(BIN)/python scripts/bench_propagation.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .jwtmesh results-quick
