# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install tools demo test bench bench-http lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,serve,aws]'
	touch $(STAMP)

install: $(STAMP)

# The SAM CLI and the MiniStack emulator, each in its own pinned venv under .tools/ (idempotent).
tools: install
	$(BIN)/python -m faasflow.serverless.tools

demo: install
	$(BIN)/python -m examples.sharded_search

# Without the tools (no python3.11 here) the emulator tests skip, each saying why.
test: install
	@$(MAKE) --no-print-directory tools || echo 'make: no tool environments; emulator tests will be skipped' >&2
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/sharded_search.py

bench-http: install
	$(BIN)/python bench/http_gateway.py

lint: install
	$(BIN)/ruff check faasflow functions examples bench tests

clean:
	rm -rf $(VENV) .faasflow .bench .pytest_cache
