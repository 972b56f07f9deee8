"""What concurrency buys a batch: 200 articles at concurrency 1 and 16.

Not a test. The endpoint is the scripted fake server (tests/fake_openai.py) holding
every answer back 200 ms, as a hosted model's latency; the result cache is off so
each article costs one call. With the model's time fixed, what is left is this
program's own overhead per article (instructor, validation, grounding, the JSONL
line and its fsync), so the speedup can approach, never pass, the concurrency:

    python benchmarks/bench_batch.py [--articles 200] [--latency 0.2] [--levels 1,16]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fake_openai

from summarizer import summarize_many  # noqa: E402
from summarizer.batch import BatchTally  # noqa: E402
from tests.fake_openai import FakeOpenAI, Reply, tool_call_reply  # noqa: E402
from tests.helpers import ARTICLE, GOOD  # noqa: E402


def run(fake: FakeOpenAI, articles: int, concurrency: int, out: Path) -> dict[str, object]:
    items = [(f"a{n:04}", f"Dispatch {n}.\n\n{ARTICLE}") for n in range(articles)]
    tally = BatchTally()
    calls = fake.calls
    started = time.monotonic()
    for _ in summarize_many(
        items,
        out=out,
        concurrency=concurrency,
        tally=tally,
        cache=False,
        base_url=fake.base_url,
        api_key="not-a-key",
        model="fake-model",
        prompt="summarize@1",  # the fake answers in its shape
    ):
        pass
    wall = time.monotonic() - started
    assert tally.ok == articles and fake.calls - calls == articles
    return {
        "concurrency": concurrency,
        "articles": articles,
        "wall_s": round(wall, 2),
        "per_article_ms": round(1000 * wall / articles, 1),
        "articles_per_s": round(articles / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per answer")
    parser.add_argument("--levels", default="1,16", help="concurrency levels, comma-separated")
    args = parser.parse_args()
    rows = []
    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.default = Reply(body=tool_call_reply(GOOD).body, delay=args.latency)
        run(fake, 4, 4, Path(tmp) / "warm-up.jsonl")  # imports and the first connections
        for level in (int(n) for n in args.levels.split(",")):
            rows.append(run(fake, args.articles, level, Path(tmp) / f"c{level}.jsonl"))
    base = float(str(rows[0]["wall_s"]))
    for row in rows:
        row["speedup"] = round(base / float(str(row["wall_s"])), 1)
        print(json.dumps(row))
    keys = list(rows[0])
    print(f"\nfake server latency {args.latency * 1000:.0f} ms per answer\n")
    print("| " + " | ".join(keys) + " |")
    print("|" + " --- |" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
