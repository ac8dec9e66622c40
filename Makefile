# The README's two commands: `make run` starts the whole stack, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test lint lock system-deps-run system-deps-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

system-deps-run system-deps-test: system-deps-%:
	scripts/system-deps.sh $*

run: system-deps-run $(VENV)/.installed
	$(BIN)/atto-work up

test: system-deps-test $(VENV)/.installed-test
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

# requirements.lock: the exact versions (and hashes) the images install, resolved from pyproject.toml for
# every platform and Python >= 3.11. Run after changing the dependencies; keeps the pins it can.
# `make lock UPGRADE=--upgrade` moves every pin to the newest allowed version.
LOCK_COMMAND = uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -o requirements.lock
lock: $(VENV)/.installed-test
	$(BIN)/$(LOCK_COMMAND) --quiet $(UPGRADE)
