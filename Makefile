# `make check` is what a developer runs before pushing: format, lint, types, contracts, tests.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: check format lint types contracts test bench

check: lint types contracts test

format:
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

lint:
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

types:
	$(BIN)/mypy

contracts:
	$(BIN)/lint-imports

test:
	$(PY) -m pytest --cov

bench:
	for b in bench/*.py; do $(PY) $$b || exit 1; done
