# Everything a fresh clone needs, from Python 3.11 and make alone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench bench-quick emulator clean

# Re-installs only when the package metadata changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Bytecode for the package, as a pip install of the wheel would write: where Python is told
# not to write it (PYTHONDONTWRITEBYTECODE=1), every process (each test's CLI run, each
# --workers process) would compile ~60 modules from source again, 50-70 ms of CPU each.
# compileall skips what is up to date; a stale file is never used (Python checks mtimes).
BYTECODE = $(BIN)/python -m compileall -q bulkload

demo: $(STAMP)
	@$(BYTECODE)
	$(BIN)/bulkload demo

test: $(STAMP)
	@$(BYTECODE)
	$(BIN)/python -m pytest -q -n auto --durations=10

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run --full

bench-quick: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m benchmarks.run --quick

emulator: $(STAMP)
	$(BIN)/bulkload emulator --port 8080 --api-key demo-key

clean:
	rm -rf $(VENV) .bulkload .pytest_cache .mypy_cache .ruff_cache
