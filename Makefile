# make run: start the app.  make test: lint, type-check and run every test.
# Both create .venv and install what they need, system packages included.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n 2

.PHONY: run test lint typecheck pytest package clean real-display

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

# make real-display: the app on Xvfb (xcb), driven with xdotool; captures and a report.txt per
# display setting in docs/screenshots/real-display/. Not part of `make test`.
real-display: $(VENV)/.run-installed
	scripts/real-display.sh

# make package: the one-folder bundle dist/smtpdesk/ (executable dist/smtpdesk/smtpdesk, with
# install-linux.sh beside it) and the same folder as dist/smtpdesk-<version>-linux-<arch>.tar.gz.
VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' smtpdesk/__init__.py)
TARBALL = dist/smtpdesk-$(VERSION)-linux-$(shell uname -m).tar.gz

package: $(VENV)/.package-installed
	rm -rf build/pyinstaller dist/smtpdesk $(TARBALL)
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist \
		--workpath build/pyinstaller packaging/smtpdesk.spec
	cp packaging/install-linux.sh dist/smtpdesk/
	tar -C dist -czf $(TARBALL) smtpdesk
	@du -sh dist/smtpdesk $(TARBALL)

$(VENV)/.package-installed: pyproject.toml | $(VENV)/bin/python
	scripts/system-deps.sh package
	$(BIN)/pip install -q -e '.[package]'
	touch $@ $(VENV)/.run-installed

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
