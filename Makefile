# Two entry points: `make book` and `make test`. Both create .venv from the project's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= smoke
WORKERS ?= 2
export UNLEARNBOOK_CACHE ?= $(CURDIR)/.cache

.PHONY: book test grid report clean

$(BIN)/unlearnbook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev,docs,notebook]'
	touch $@

grid: $(BIN)/unlearnbook
	$(BIN)/unlearnbook run --profile $(PROFILE) --workers $(WORKERS)

report: $(BIN)/unlearnbook
	$(BIN)/unlearnbook report --profile $(PROFILE)

book: grid report
	$(BIN)/jupyter-book build . --warningiserror --keep-going

test: $(BIN)/unlearnbook
	$(BIN)/python -m pytest

clean:
	rm -rf _build book/generated results
