# Two commands for a new user:
#   make demo   install the harness in .venv and run scenarios/smoke.yaml against the embedded target
#   make test   install the test dependencies too and run lint, type checks and the test suite
# Everything goes into .venv (override with VENV=...); nothing is installed system-wide.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo install install-test test lint test-slow clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/harness run scenarios/smoke.yaml

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-slow: install-test
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
