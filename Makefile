# make run: start the app.  make test: lint, type-check and run every test.
# Both create .venv and install what they need, system packages included.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n 2

.PHONY: run test lint typecheck pytest package bench clean

run: $(VENV)/.run-installed
	$(BIN)/smtpdesk

test: $(VENV)/.test-installed lint typecheck pytest

lint: $(VENV)/.test-installed
	$(BIN)/ruff check smtpdesk tests bench packaging
	$(BIN)/ruff format --check smtpdesk tests bench packaging

typecheck: $(VENV)/.test-installed
	$(BIN)/mypy

pytest: $(VENV)/.test-installed
	QT_QPA_PLATFORM=offscreen tests/with-secret-service.sh $(BIN)/pytest $(PYTEST_ARGS)

$(VENV)/bin/python:
	scripts/system-deps.sh run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(VENV)/bin/python
	scripts/system-deps.sh run
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	scripts/system-deps.sh test
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.run-installed

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
