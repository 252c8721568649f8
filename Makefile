# One-command entry points. `make demo` runs the main job end to end; `make test` runs ruff, mypy and the tests.
# Both create .venv and install the project on first use (PyPI only; no Docker needed).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build; GPU users set TORCH_SPEC to the CUDA build they want before the first install.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test lint typecheck clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[local,train,dev]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/streamproc demo

test: install
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck

typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
