#!/usr/bin/env bash
# `make demo`: the sample article summarized on the embedded local model, from nothing.
# Each step says what it does before it starts, and how long it took when it ends.
set -euo pipefail

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
BIN=$VENV/bin
ARTICLE=examples/kabul-rocket-attack.txt
PAGE=${DEMO_PAGE:-demo/kabul-rocket-attack.html}
STEPS=6
number=0
began=$(date +%s)

step() {
    number=$((number + 1))
    local what=$1
    shift
    printf '\n[demo %d/%d] %s\n' "$number" "$STEPS" "$what" >&2
    local start
    start=$(date +%s)
    "$@"
    printf '[demo %d/%d] done in %ds\n' "$number" "$STEPS" "$(($(date +%s) - start))" >&2
}

step "creating the virtual environment $VENV" "$PYTHON" -m venv "$VENV"
step "upgrading pip" "$BIN/pip" install -q --upgrade pip
step "installing summarizer with the local extra (the first time, pip compiles llama.cpp: \
about 5 minutes on 2 cores, with no output)" "$BIN/pip" install -q -e '.[local]'
step "fetching the local model, once (about 1.1 GB, checked by sha256)" \
    "$BIN/summarizer" models fetch --size 1.5b
step "summarizing $ARTICLE (the local model starts, reads and writes: about a minute)" \
    "$BIN/summarizer" summarize "$ARTICLE" --format text
mkdir -p "$(dirname "$PAGE")"
step "writing the review page (the result comes from the cache: no second call)" \
    "$BIN/summarizer" summarize "$ARTICLE" --format html --output "$PAGE"

printf '\n[demo] finished in %ds. Review page: %s\n' "$(($(date +%s) - began))" \
    "$(cd "$(dirname "$PAGE")" && pwd)/$(basename "$PAGE")" >&2
