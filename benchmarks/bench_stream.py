"""Does streaming the answer (the live view) change how fast a model writes it?

Not a test: it needs a running OpenAI-compatible server (the local model, see
../shared/notes/LOCAL-MODEL.md) and takes minutes. It summarizes the sample
article with summarize@2, in turns streamed (as on a terminal) and not, so that
noise on a loaded machine falls on both alike, and prints the medians:

    python benchmarks/bench_stream.py --base-url http://127.0.0.1:8765/v1 \\
        --model qwen2.5-coder-1.5b-instruct [--runs 3]

The model is asked at temperature 0 with the same prompt, so both ways write the
same answer; its chunks per second are the tokens per second of llama.cpp (one
chunk a token), counted after the first one arrived, as the live view shows them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from summarizer import summarize
from summarizer.live import watching

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "kabul-rocket-attack.txt"


class Timer:
    """A watcher that notes when the first and the last chunk arrived."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last = 0.0
        self.chunks = 0

    def stage(self, text: str) -> None:
        pass

    def numbered(self, sentences: Mapping[int, str], quotes: Mapping[int, str]) -> None:
        pass

    def partial(self, answer: Mapping[str, Any], tokens: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last, self.chunks = now, tokens


def once(streamed: bool, options: dict[str, Any]) -> dict[str, float | int | None]:
    text = SAMPLE.read_text("utf-8")
    timer = Timer()
    started = time.monotonic()
    with watching(timer if streamed else None):
        result = summarize(text, prompt="summarize@2", cache=False, **options)
    wall = time.monotonic() - started
    speed = None
    if timer.first is not None and timer.last > timer.first:
        speed = (timer.chunks - 1) / (timer.last - timer.first)
    return {
        "wall_s": wall,
        "completion_tokens": result.meta.usage.completion_tokens or timer.chunks,
        "first_chunk_s": None if timer.first is None else timer.first - started,
        "chunks_per_s": speed,
        "facts": len(result.summary.key_facts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    options = {"base_url": args.base_url, "model": args.model, "timeout": 900.0}
    rows: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for number in range(args.runs):
        for streamed in (False, True) if number % 2 == 0 else (True, False):
            row = once(streamed, options)
            rows[streamed].append(row)
            print(json.dumps({"streamed": streamed, **row}), flush=True)
    print("| | wall s (median) | completion tokens | tokens/s while writing | facts |")
    print("|---|---|---|---|---|")
    for streamed, got in rows.items():
        wall = statistics.median(r["wall_s"] for r in got)
        tokens = statistics.median(r["completion_tokens"] for r in got)
        speeds = [r["chunks_per_s"] for r in got if r["chunks_per_s"]]
        speed = f"{statistics.median(speeds):.1f}" if speeds else "-"
        facts = statistics.median(r["facts"] for r in got)
        name = "streamed" if streamed else "not streamed"
        print(f"| {name} | {wall:.1f} | {tokens:.0f} | {speed} | {facts:.0f} |")
    ratio = statistics.median(r["wall_s"] for r in rows[True]) / statistics.median(
        r["wall_s"] for r in rows[False]
    )
    print(f"\nstreamed / not streamed wall time: {ratio:.2f}x")


if __name__ == "__main__":
    main()
