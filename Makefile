# Renum's commands. `make dev` runs the product, `make test` tests it.
# Both create .venv and install the project when needed (once: a stamp file
# records the install; editing pyproject.toml triggers a reinstall).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.renum-installed
PYTEST_ARGS ?=

.PHONY: dev test test-fast lint bench chaos fuzz clean-dev help

help:
	@echo "make dev    - run Renum locally (embedded PostgreSQL + Redis, API on :8000)"
	@echo "make test   - run the whole test suite"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - run the benchmarks in bench/; one table, bench/results.json (BENCH_FULL=1: full size)"
	@echo "make chaos  - the chaos scenarios at full size (kills, Suna faults, Redis flushes, PostgreSQL restarts)"
	@echo "make fuzz   - hypothesis on the DSL (10,000 cases) and schemathesis on the API"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

dev: $(STAMP)
	$(BIN)/renum dev

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

chaos: $(STAMP)
	$(BIN)/python -m chaos $(CHAOS_ARGS)

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=full $(BIN)/python -m pytest tests/dsl -q --timeout=1800 $(PYTEST_ARGS)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(BIN)/python -m pytest tests -m fuzz -q --timeout=1800 $(PYTEST_ARGS)

clean-dev:
	rm -rf .renum
