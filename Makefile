# The two quick-start commands: `make serve` and `make test`. Both set up .venv from the
# locked requirements on first use (Python 3.11+ must be on PATH as python3).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test install install-test lock chromium

serve: install
	$(BIN)/chatlens serve

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# The engine's modules are compiled with mypyc (setup.py): rebuilt whenever one changes,
# since a compiled module shadows its source.
COMPILED_SOURCES := $(wildcard src/chatlens/engine/*.py)

$(VENV)/.installed: requirements.lock requirements-build.lock pyproject.toml setup.py $(COMPILED_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements.lock -r requirements-build.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: requirements-test.lock clients/python/pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q --require-hashes -r requirements-test.lock
	$(BIN)/python -m pip install -q --no-deps -e clients/python  # the Python SDK (httpx: locked above)
	$(MAKE) chromium
	touch $@

# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
chromium:
	@test -x /usr/bin/chromium || { 	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; 	  else echo "browser tests need Chromium at /usr/bin/chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# Regenerate the locks after changing dependencies in pyproject.toml.
lock:
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 -o requirements-test.lock
	$(BIN)/uv pip compile requirements-build.in --generate-hashes --python-version 3.11 -o requirements-build.lock
