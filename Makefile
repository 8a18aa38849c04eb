# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

EXPORT := .tools/export
EXPORT_STAMP := $(EXPORT)/.installed-stamp

.PHONY: install tools model browser demo demo-jaccard test typecheck bench bench-http bench-onnx lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,serve,aws,onnx,testing]'
	touch $(STAMP)

install: $(STAMP)

# The SAM CLI and the MiniStack emulator, each in its own pinned venv under .tools/ (idempotent).
tools: install
	$(BIN)/faasflow tools

# all-MiniLM-L6-v2 as ONNX in .faasflow/models, converted in its own env (.tools/export,
# CPU torch: never a run-time dependency); both steps do nothing when up to date.
$(EXPORT_STAMP): scripts/export-requirements.txt
	rm -rf $(EXPORT)
	$(PYTHON) -m venv $(EXPORT)
	$(EXPORT)/bin/python -m pip install -q --disable-pip-version-check -r scripts/export-requirements.txt
	touch $@

model: install $(EXPORT_STAMP)
	$(EXPORT)/bin/python scripts/export_model.py

# Debian's Chromium and its chromedriver, for the gateway page's browser test: installed with
# apt-get when missing and running as root; otherwise this step says why it did nothing.
BROWSER_PACKAGES := chromium chromium-driver

browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "make: not root, so not installing $(BROWSER_PACKAGES)" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null; then echo "make: no apt-get to install $(BROWSER_PACKAGES)" >&2; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; }

# The main job: the semantic sharded search (ONNX encoder -> 3-shard vector index -> ranker).
demo: install
	@$(MAKE) --no-print-directory model
	$(BIN)/python -m examples.semantic_search

# The same Flow shape with a model-free featurizer and jaccard search (the reference app).
demo-jaccard: install
	$(BIN)/python -m examples.sharded_search

# Without the tools (no python3.13 here) the emulator tests skip, each saying why.
test: install
	@$(MAKE) --no-print-directory tools || echo 'make: no tool environments; emulator tests will be skipped' >&2
	@$(MAKE) --no-print-directory model || echo 'make: no ONNX model; the real-model tests will be skipped' >&2
	@$(MAKE) --no-print-directory browser || echo 'make: no Chromium; the browser test will be skipped' >&2
	$(BIN)/mypy
	$(BIN)/python -m pytest

# mypy with the [tool.mypy] settings of pyproject.toml (the run-time and wire modules strictly).
typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/sharded_search.py

bench-http: install
	$(BIN)/python bench/http_gateway.py

bench-onnx: model
	$(BIN)/python bench/onnx_encoder.py

lint: install
	$(BIN)/ruff check faasflow functions examples bench tests scripts

clean:
	rm -rf $(VENV) .faasflow .bench .pytest_cache
