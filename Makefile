# The two commands of the README: `make run` and `make test`. Everything else is their plumbing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := plugin_examples/ct-lung-seg plugin_examples/mr-brain-extract plugin_examples/us-burned-in-text
STAMP := $(VENV)/.installed
VIEWER := hub/web/ui/static/ui/viewer

.PHONY: run test test-scaleout install dev system-deps frontend lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(foreach p,$(PLUGINS),$(p)/pyproject.toml)
	$(BIN)/python -m pip install --quiet -e . $(foreach p,$(PLUGINS),-e $(p))
	touch $(STAMP)

## install: the hub and the example plugins into .venv
install: $(STAMP)

## frontend: the viewer bundle (npm ci, vite build into $(VIEWER), gitignored); skipped when up to date
frontend: $(VIEWER)/viewer.js

frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
	  || { echo "make frontend: needs Node.js >= 20.19 and npm (node: $$(node --version 2>/dev/null || echo missing))" >&2; exit 1; }
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VIEWER)/viewer.js: frontend/node_modules/.package-lock.json frontend/vite.config.js $(wildcard frontend/src/*)
	cd frontend && npx vite build

## run: install, then start the hub with embedded defaults (no Redis/PostgreSQL needed)
run: install frontend
	$(BIN)/pacs-hub up

## dev: install the development dependencies as well
dev: install
	$(BIN)/python -m pip install --quiet -e '.[dev]'

## system-deps: Debian packages the integration tests use (dcmtk, dicom3tools, mricron-data)
system-deps:
	bash scripts/system-deps.sh

## test: install everything the tests need, run the whole suite, then the scale-out run
test: dev system-deps frontend
	$(BIN)/python -m pytest
	$(MAKE) test-scaleout

## test-scaleout: the job, data-layer and SCP storage tests again on PostgreSQL + Redis
test-scaleout: dev
	PACS_HUB_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \
	PACS_HUB_BROKER_URL=redis://127.0.0.1:6379/15 \
	$(BIN)/python -m pytest tests/jobs tests/db tests/storage tests/routing tests/outbox \
		tests/dimse/test_scp.py tests/dimse/test_scp_refusals.py

lint: dev
	$(BIN)/ruff check hub tests plugin_examples benchmarks models

## bench: the inference benchmark (hub end-to-end vs bare ONNX Runtime)
bench: install
	$(BIN)/python benchmarks/inference.py

clean:
	rm -rf $(VENV) hub-data .pytest_cache
