# LAPENNA: two commands do everything on a fresh machine: `make book` and `make test`.
# Both install what they need into .venv first (see `make install`).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0

.PHONY: install test lint book

## install: create .venv with the pinned stack (requirements.txt) and lapenna_labs in editable mode
install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

## lint: ruff lint and format checks (part of `make test`)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: install, lint, then run the whole test suite
test: lint
	$(BIN)/python -m pytest
