# Everything runs from a virtualenv this Makefile creates from the repo's own files; the tests
# also run external validators installed with npm from package.json and package-lock.json.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VALIDATORS := node_modules/.installed
BROWSER := /usr/bin/chromium /usr/bin/chromedriver

.PHONY: setup test sandbox clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Exactly the locked versions; the linter needs none of its dependencies' install scripts.
$(VALIDATORS): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The review page is tested in a real browser: Debian's packages, installed when missing (as root).
$(BROWSER):
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "Installing $$(cat debian-packages.txt | tr '\n' ' ')for the review page's browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$(cat debian-packages.txt)) >/dev/null; \
	else \
	  echo "The browser tests need Debian's chromium and chromium-driver: sudo apt-get install $$(cat debian-packages.txt | tr '\n' ' ')" >&2; \
	  exit 1; \
	fi

test: setup $(VALIDATORS) $(BROWSER)
	$(BIN)/python -m pytest -n 2

sandbox: setup
	$(BIN)/labelloop sandbox

clean:
	rm -rf $(VENV) node_modules sandbox-report .pytest_cache
