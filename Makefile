# Two commands for a new user:
#   make demo   install the harness in .venv and run scenarios/smoke.yaml against the embedded target
#   make test   install the test dependencies too and run lint, types, layer contracts and the tests
# Everything goes into .venv (override with VENV=...); nothing is installed system-wide.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# The default suite runs on two pytest-xdist workers (most tests wait on real servers and
# Locust runs); tests that apply chaos run one after another on one of them (tests/conftest.py).
# PYTEST_PARALLEL= runs it in one process.
PYTEST_PARALLEL ?= -n 2 --dist loadgroup

.PHONY: demo install install-test system-deps test lint test-slow clean

# Debian packages the tests use: nft (nftables chaos faults), chromium (the report is
# checked in a real headless browser). Installed when missing and we are root (as in CI);
# otherwise the tests that need them skip and say why.
DEB_PACKAGES := nftables chromium fonts-dejavu-core
DEB_COMMANDS := nft chromium

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
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

system-deps:
	@missing=""; for c in $(DEB_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages: $(DEB_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES) >/dev/null; \
	  else echo "note: $(DEB_PACKAGES) not installed (need root + apt-get); tests that need them will skip"; fi; \
	fi

test: lint system-deps
	$(BIN)/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-slow: install-test
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
