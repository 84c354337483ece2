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

.PHONY: book test test-all grid report assignments grade clean

# Byte code is written on first import, into one git-ignored folder: only the modules a run
# imports get compiled (a fraction of the environment; compiling all of it took ~2 min on 2 cores),
# and once, even where the shell sets PYTHONDONTWRITEBYTECODE (without .pyc every notebook run
# recompiled torch at import, +9 s per run). Every command below, and what it starts, inherits both.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX ?= $(CURDIR)/.cache/pycache

$(BIN)/unlearnbook: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-compile -e '.[dev,docs,notebook,teach]'
	touch $@

grid: $(BIN)/unlearnbook
	$(BIN)/unlearnbook run --profile $(PROFILE) --paper $(PAPER) --workers $(WORKERS)

report: $(BIN)/unlearnbook
	$(BIN)/unlearnbook report --profile $(PROFILE)

ifeq ($(PROFILE),smoke)
book: $(BIN)/unlearnbook
	$(BIN)/unlearnbook run --profile smoke --paper $(PAPER) --workers $(WORKERS) --target book
else
book: report  # --all: the chapters' sources do not change when their results do (see the Snakefile)
	$(BIN)/jupyter-book build . --all --warningiserror --keep-going
endif

# the four course assignments: student notebooks and autograders under assignments/dist/
assignments: $(BIN)/unlearnbook
	$(BIN)/unlearnbook assign

# grade a folder of submissions: make grade ASSIGNMENT=sure SUBMISSIONS=path/to/folder [PDF=1]
grade: $(BIN)/unlearnbook
	$(BIN)/unlearnbook grade '$(SUBMISSIONS)' --autograder 'assignments/dist/$(ASSIGNMENT)' \
		--out 'assignments/dist/grades-$(ASSIGNMENT).csv' $(if $(PDF),--pdf)

test: $(BIN)/unlearnbook
	$(BIN)/python -m pytest

# the tests marked slow too (Otter grading every assignment's blank notebook end to end)
test-all: $(BIN)/unlearnbook
	$(BIN)/python -m pytest -m 'slow or not slow'

clean:
	rm -rf _build book/generated results .snakemake assignments/dist
