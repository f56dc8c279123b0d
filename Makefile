# Everything runs from one virtualenv, .venv, made from the repo's own files: `make sandbox` installs
# what the sandbox needs, `make test` adds the Pulumi program and the test tools (Pulumi.yaml runs the
# program from the same .venv). The tests also run external validators installed with npm from
# package.json and package-lock.json.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check --progress-bar off
VALIDATORS := node_modules/.installed
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
# Label Studio (the labelstudio review backend's tests, `labelloop labelstudio start`): a virtualenv of its own.
LABEL_STUDIO_VENV := build/label-studio-venv
LABEL_STUDIO := $(LABEL_STUDIO_VENV)/.installed

.PHONY: setup test sandbox clean label-studio

setup: $(VENV)/.installed

$(BIN)/python:
	@echo "make: creating the virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)

# The sandbox's packages only: the loop's own, moto, scikit-learn, matplotlib, rich.
$(VENV)/.sandbox-installed: pyproject.toml | $(BIN)/python
	@echo "make: installing the sandbox's packages into $(VENV) (once; under a minute with a warm pip cache)"
	$(PIP) -e '.[sandbox]'
	touch $@

# Everything else: the Pulumi program's packages and the test tools.
$(VENV)/.installed: pyproject.toml requirements.txt $(VENV)/.sandbox-installed
	@echo "make: installing the Pulumi program's and the tests' packages into $(VENV)"
	$(PIP) -e '.[test]'
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

# Every package pinned (requirements-labelstudio.txt); about 1 GB, a few minutes with a cold pip cache.
$(LABEL_STUDIO): requirements-labelstudio.txt
	@echo "make: installing Label Studio into $(LABEL_STUDIO_VENV) (its own virtualenv; a few minutes the first time)"
	$(PYTHON) -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -q -r requirements-labelstudio.txt
	$(PYTHON) -m sandbox.label_studio template
	touch $@

label-studio: $(LABEL_STUDIO)

test: setup $(VALIDATORS) $(BROWSER) $(LABEL_STUDIO)
	$(BIN)/python -m pytest -n 2

# A short tour of the loop (about a minute): a cold start (3 labelled digits per label) that the reviews
# teach, a gate set every version is compared on, and champion/challenger deployment, so that no version
# worse than the running one is switched to; its first model (F1 0.69) is below the stack's
# Minimum-F1-Score (0.8), lowered for the tour. The stack's defaults stay as they are.
# `labelloop sandbox` alone runs all 1 797 digits from 20 per label.
SANDBOX_OPTIONS ?= --images 800 --rounds 4 --start-per-label 3 --gate-set-per-label 10 \
	--policies policies.champion_challenger --param Minimum-F1-Score=0.5

sandbox: $(VENV)/.sandbox-installed
	$(BIN)/labelloop sandbox $(SANDBOX_OPTIONS)

clean:
	rm -rf $(VENV) node_modules sandbox-report .pytest_cache $(LABEL_STUDIO_VENV)
