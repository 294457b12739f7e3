# fairalloc: `make run` materialises every asset on the sample data, `make test` runs the suite.
# Both create the virtual environment first when it is missing or pyproject.toml changed.
# `make run` runs the jobs of "allocate all" in one process (a process per step would spend seconds
# importing each time); `make cluster` runs it through Celery workers (deploy/cluster.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The package finds nothing through its own location: the repository's defaults are set here.
export DAGSTER_HOME := $(abspath dagster_home)
export FAIRALLOC_DATA_DIR := $(abspath data)

.PHONY: run cluster test dev bench data lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# register the data's groups as partitions, then run each job of "allocate all" once, in process
run: $(STAMP)
	$(BIN)/python -m fairalloc.pipelines.run

cluster: $(STAMP)
	PYTHON=$(BIN)/python deploy/cluster.sh
	$(BIN)/fairalloc outputs

test: $(STAMP)
	$(BIN)/python -m pytest -q

dev: $(STAMP)
	$(BIN)/dagster dev -m fairalloc.pipelines -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python -m benchmarks

data: $(STAMP)
	$(BIN)/python data/generate.py

# The public modules whose functions carry numpydoc docstrings (tests/test_docstrings.py: the same).
DOC_MODULES = transforms/[!_]*.py solvers/[!_]*.py schemas/[!_]*.py pipelines/outputs.py cli/__init__.py \
	service/[!_]*.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/numpydoc lint $(DOC_MODULES)

clean:
	rm -rf $(VENV) dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
