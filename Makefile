# The commands that matter. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test lint demo bench clean

$(BIN)/summarizer: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(BIN)/summarizer

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# A summary of the sample article on the embedded local model, from nothing: a line per
# step with its time (pip compiles llama.cpp, ~5 min on 2 cores, and fetches the model
# once), then the summary, then the path of its review page (scripts/demo.sh).
demo:
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/demo.sh

# Every benchmark figure beside its aim (benchmarks/README.md); about a minute.
# BENCH_ARGS=--local adds the embedded local model (minutes; needs the local extra).
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
