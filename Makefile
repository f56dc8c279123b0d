# Everything runs from a virtualenv this Makefile creates from the repo's own files; the tests
# also run external validators installed with npm from package.json and package-lock.json.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VALIDATORS := node_modules/.installed

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

test: setup $(VALIDATORS)
	$(BIN)/python -m pytest -n 2

sandbox: setup
	$(BIN)/labelloop sandbox

clean:
	rm -rf $(VENV) node_modules sandbox-report .pytest_cache
