# One-command entry points. `make demo` runs the main job end to end; `make test` runs ruff, mypy, the docs build
# and the tests.
# Both create .venv and install the project on first use (PyPI only; no Docker needed).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build; GPU users set TORCH_SPEC to the CUDA build they want before the first install.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test lint typecheck docs clean

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
	$(MAKE) --no-print-directory docs
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck

typecheck: install
	$(BIN)/mypy

# The documentation site (mkdocs.yml), built strictly: a broken link or anchor, or a page missing from the nav,
# fails. Into a temporary folder that is removed afterwards, never into the repository. NO_MKDOCS_2_WARNING
# silences mkdocs-material's notice about its end of life (May 2027), printed on every build.
docs: install
	site=$$(mktemp -d) && trap 'rm -rf "$$site"' EXIT && \
		NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$site"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache site
