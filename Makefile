# Everything runs from a virtualenv this Makefile creates from the repo's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test sandbox clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

test: setup
	$(BIN)/python -m pytest -n 2

sandbox: setup
	$(BIN)/labelloop sandbox

clean:
	rm -rf $(VENV) sandbox-report .pytest_cache
