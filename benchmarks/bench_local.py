"""The sample article end to end on the embedded local model, 0.5B and 1.5B.

Not a test: it needs `pip install -e '.[local]'` and `summarizer models fetch` for
each size, and takes minutes. It starts the local server the way `summarizer`
does (one per size), summarizes the sample article, and prints a Markdown table:

    python benchmarks/bench_local.py [--sizes 0.5b,1.5b] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from summarizer import summarize
from summarizer.pipeline import endpoint
from summarizer.settings import load_settings

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "kabul-rocket-attack.txt"


def run(size: str, runs: int) -> dict[str, object]:
    text = SAMPLE.read_text("utf-8")
    started = time.monotonic()
    with endpoint(load_settings(local_model=size, cache=False)) as live:  # a real call each run
        ready = time.monotonic() - started
        walls, results = [], []
        for _ in range(runs):
            t0 = time.monotonic()
            results.append(summarize(text, settings=live))
            walls.append(time.monotonic() - t0)
    last = results[-1].meta
    first, final = last.grounding[0] if last.grounding else None, results[-1].summary
    kept = sum(len(f.evidence) for f in final.key_facts) + len(final.source_quotes)
    return {
        "model": last.model,
        "server_ready_s": round(ready, 1),
        "wall_s": round(statistics.median(walls), 1),
        "calls": len(last.attempts),
        "prompt_tokens": last.usage.prompt_tokens,
        "completion_tokens": last.usage.completion_tokens,
        "first_answer": f"{first.items - first.not_found}/{first.items}" if first else "invalid",
        "kept_after_reasks": kept,
        "warnings": len(last.warnings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.5b,1.5b")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rows = [run(size, args.runs) for size in args.sizes.split(",")]
    for row in rows:
        print(json.dumps(row))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + " --- |" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
