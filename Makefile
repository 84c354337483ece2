# Two entry points: `make book` and `make test`. Both create .venv from the project's own files.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= smoke
WORKERS ?= 2
PAPER   ?= all
# `make book` runs the smoke grid, the report and the book build as one Snakemake workflow
# (minutes); other profiles build from the results already under results/<profile>/ (committed for
# cpu) and never start hours of training: run `make grid PROFILE=cpu PAPER=sure` for that.
export UNLEARNBOOK_CACHE ?= $(CURDIR)/.cache

.PHONY: book test grid report clean

# --no-compile: Python byte-compiles only the modules it imports, on first use (saves ~40 s of the
# ~2 min install, most of it on torch's files that are never imported)
$(BIN)/unlearnbook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-compile -e '.[dev,docs,notebook]'
	touch $@

grid: $(BIN)/unlearnbook
	$(BIN)/unlearnbook run --profile $(PROFILE) --paper $(PAPER) --workers $(WORKERS)

report: $(BIN)/unlearnbook
	$(BIN)/unlearnbook report --profile $(PROFILE)

ifeq ($(PROFILE),smoke)
book: $(BIN)/unlearnbook
	$(BIN)/unlearnbook run --profile smoke --paper $(PAPER) --workers $(WORKERS) --target book
else
book: report
	$(BIN)/jupyter-book build . --warningiserror --keep-going
endif

test: $(BIN)/unlearnbook
	$(BIN)/python -m pytest

clean:
	rm -rf _build book/generated results .snakemake
