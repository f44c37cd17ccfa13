# Two commands do everything on a fresh Debian machine:  make demo  and  make test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup system-deps test lint typecheck unit demo bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Debian's docker-registry (the registry:2 code) and skopeo, installed only when missing.
system-deps:
	bash registry-test/install-deps.sh

lint: setup
	$(BIN)/ruff check src tests bench examples

typecheck: setup
	$(BIN)/mypy

# The whole suite. Integration tests start a real registry (registry-test/) and must not skip.
test: setup system-deps lint typecheck
	OCIKIT_REQUIRE_REGISTRY=1 $(BIN)/pytest -q -p no:cacheprovider

# The fast loop while editing: no registry, no peers, no crash/fault runs (`make test` runs them all).
unit: setup
	$(BIN)/pytest -q -m "not registry and not interop and not slow"

demo: setup system-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

bench: setup system-deps
	bash bench/install-deps.sh
	PATH="$(CURDIR)/$(BIN):$$PATH" bash bench/run-all.sh

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache
