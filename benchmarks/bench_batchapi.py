"""The Batch API route: wall time and HTTP calls for many articles, and what it saves.

Not a test. Two figures:

1. ``--articles`` articles (1,000) through ``summarizer batch --batch-api``'s code
   (``batchapi.BatchRun``) against the fake Batch API (tests/fake_batch_api.py,
   written by us; each batch completes on its fourth poll, polls do not sleep):
   wall time, HTTP calls by kind, and peak memory. It measures this program's own
   cost; a real batch takes the provider's time, up to 24 h.
2. The cost of 1,000 sample-sized articles live and through the Batch API at
   gpt-4o-mini prices, from the token counts recorded in
   cassettes/kabul-summarize2-1.5b.yaml (a real answer to the sample article):

    python benchmarks/bench_batchapi.py [--articles 1000] [--sample-sized] [--wave N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fake_batch_api

from summarizer.batch import BatchItem, BatchTally  # noqa: E402
from summarizer.batchapi import WAVE, BatchRun  # noqa: E402
from summarizer.llm import BatchAPI  # noqa: E402
from summarizer.settings import load_settings  # noqa: E402
from tests.fake_batch_api import FakeBatchAPI  # noqa: E402
from tests.fake_openai import tool_call_reply  # noqa: E402
from tests.helpers import ARTICLE, GOOD  # noqa: E402

CASSETTE = ROOT / "cassettes" / "kabul-summarize2-1.5b.yaml"


async def _no_sleep(seconds: float) -> None:
    pass


def through_the_fake(
    articles: int, folder: Path, *, wave: int = WAVE, text: str = ARTICLE
) -> dict[str, Any]:
    items = [BatchItem(id=f"a{n:05}", text=f"Dispatch {n}.\n\n{text}") for n in range(articles)]
    with FakeBatchAPI(lambda body: tool_call_reply(GOOD)) as fake:
        settings = load_settings(
            base_url=fake.base_url,
            api_key="not-a-key",
            model="gpt-4o-mini",
            prompt="summarize@1",  # the fake answers in its shape
            cache=False,
        )
        tally = BatchTally()

        async def go() -> None:
            api = BatchAPI(settings, sleep=_no_sleep)
            run = BatchRun(
                settings,
                out=folder / "r.jsonl",
                via="batch-api",
                api=api,
                sleep=_no_sleep,
                poll=(0.0, 0.0),
                wave=wave,
                tally=tally,
            )
            try:
                await run.run(items)
            finally:
                await api.close()

        started = time.monotonic()
        asyncio.run(go())
        wall = time.monotonic() - started
        kinds = Counter(
            f"{r['method']} {'/'.join(r['path'].split('?')[0].split('/')[2:3])}"
            for r in fake.requests
        )
        assert tally.ok == articles, tally.summary()
        return {
            "articles": articles,
            "wall_s": round(wall, 2),
            "per_article_ms": round(1000 * wall / articles, 2),
            "http_calls": len(fake.requests),
            "calls_by_kind": dict(sorted(kinds.items())),
            "batches": len(fake.batches),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "cost_usd": tally.cost_usd,
        }


def recorded_tokens() -> tuple[int, int]:
    """(prompt, completion) tokens of the recorded answer(s) to the sample article."""
    cassette = yaml.safe_load(CASSETTE.read_text("utf-8"))
    prompt = completion = 0
    for interaction in cassette["interactions"]:
        usage = json.loads(interaction["response"]["body"]["string"])["usage"]
        prompt += usage["prompt_tokens"]
        completion += usage["completion_tokens"]
    return prompt, completion


def costs(articles: int = 1000) -> dict[str, Any]:
    settings = load_settings()
    prompt, completion = recorded_tokens()
    live_in, live_out = settings.price("gpt-4o-mini") or (0.0, 0.0)
    batch_in, batch_out = settings.batch_price("gpt-4o-mini") or (0.0, 0.0)
    live = articles * (prompt * live_in + completion * live_out) / 1e6
    batch = articles * (prompt * batch_in + completion * batch_out) / 1e6
    return {
        "articles": articles,
        "tokens_per_article": {"prompt": prompt, "completion": completion},
        "live_usd": round(live, 4),
        "batch_usd": round(batch, 4),
        "saved": f"{1 - batch / live:.0%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--wave", type=int, default=WAVE, help="articles held at once")
    parser.add_argument(
        "--sample-sized", action="store_true", help="each article the sample's text (5 kB)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        text = ARTICLE
        if args.sample_sized:
            sample = ROOT / "examples" / "kabul-rocket-attack.txt"
            text = sample.read_text("utf-8") + "\n\n" + ARTICLE  # the answer's words kept
        fake = through_the_fake(args.articles, Path(folder), wave=args.wave, text=text)
        figures = {"fake": fake, "cost": costs()}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    fake, cost = figures["fake"], figures["cost"]
    print(
        f"{fake['articles']:,} articles through the Batch API path (fake server): "
        f"{fake['wall_s']} s ({fake['per_article_ms']} ms each), {fake['http_calls']} HTTP "
        f"calls {fake['calls_by_kind']}, {fake['batches']} batch(es), peak RSS "
        f"{fake['peak_rss_mb']} MB"
    )
    print(
        f"1,000 sample-sized articles at gpt-4o-mini prices ({cost['tokens_per_article']} "
        f"tokens each): live ${cost['live_usd']}, batch ${cost['batch_usd']} "
        f"({cost['saved']} saved)"
    )


if __name__ == "__main__":
    main()
