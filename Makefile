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

# A summary of the sample article on the embedded local model, from nothing:
# installs llama.cpp's server (compiles, ~4 min on 2 cores), fetches the model once.
demo:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[local]'
	$(BIN)/summarizer models fetch --size 1.5b
	$(BIN)/summarizer summarize examples/kabul-rocket-attack.txt --format text

# Every benchmark figure beside its aim (benchmarks/README.md); about a minute.
# BENCH_ARGS=--local adds the embedded local model (minutes; needs the local extra).
bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
