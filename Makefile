# The two commands a new machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python -m examples.sharded_search

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/sharded_search.py

lint: install
	$(BIN)/ruff check faasflow functions examples bench tests

clean:
	rm -rf $(VENV) .faasflow .bench .pytest_cache
