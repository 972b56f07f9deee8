"""Every benchmark figure beside its aim, measured in one run; medians, as ratios where noisy.

Not a test. Run from the repository root (``make bench`` does)::

    python benchmarks/run.py            # about a minute on 2 cores
    python benchmarks/run.py --local    # and the embedded local model (minutes)
    python benchmarks/run.py --quick    # a tiny configuration, to check the script runs

Figures (benchmarks/README.md says how each is measured):

* overhead: ``summarize()`` against bare instructor, the same schema and messages,
  one zero-latency fake server (tests/fake_openai.py), one call of each in turn;
* concurrency: a batch at concurrency 1 and 16, the fake server holding each
  answer back 200 ms (benchmarks/bench_batch.py);
* start-up: ``summarizer --help`` and a cache hit of ``summarizer summarize``,
  wall time of a fresh process;
* grounding: an index of a 100,000-character article and 50 quotes located in it;
* prompt overhead: tokens of the system prompt plus the tool schema as sent,
  counted with the local model's tokenizer (llama.cpp, vocabulary only);
* the local model: the sample article end to end (benchmarks/bench_local.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]  # for tests.fake_openai and the other benchmarks

from tests.fake_openai import FakeOpenAI, Reply, tool_call_reply  # noqa: E402
from tests.helpers import ARTICLE, GOOD  # noqa: E402

SAMPLE = ROOT / "examples" / "kabul-rocket-attack.txt"
MODEL = "fake-model"
KEY = "not-a-key"
PROMPT = "summarize@1"
"""The fake answers in summarize@1's shape (passages copied): these figures measure the
orchestration around one call, the same for both prompts. summarize@2's own cost, finding
the sentences and quotations, is measured apart (bench_passages)."""
os.environ["SUMMARIZER_PROMPT"] = PROMPT  # every summarize() here, and bench_batch's


@dataclass
class Figure:
    """One measured figure and its aim; ``met`` is None when there is no aim or no figure."""

    name: str
    median: float | None
    unit: str
    aim: str
    met: bool | None
    detail: str = ""

    def shown(self) -> str:
        if self.median is None:
            return "skipped"
        value = f"{self.median:,.0f}" if self.median >= 100 else f"{self.median:.3g}"
        return f"{value} {self.unit}".strip()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUMMARIZER_", "OPENAI_"))}
    return env | {"SUMMARIZER_PROMPT": PROMPT} | extra


# --- overhead against bare instructor ------------------------------------------------------


def bench_overhead(calls: int) -> Figure:
    """Per-call time of summarize() over bare instructor's, median against median."""
    import instructor
    import openai

    from summarizer import summarize
    from summarizer.prompts import load_prompt
    from summarizer.schema import ArticleSummary

    with FakeOpenAI() as fake:
        fake.default = tool_call_reply(GOOD)
        messages = load_prompt(PROMPT).render(article=ARTICLE, title=None)
        client = instructor.from_openai(
            openai.OpenAI(base_url=fake.base_url, api_key=KEY, max_retries=0),
            mode=instructor.Mode.TOOLS,
        )

        def bare() -> None:
            client.chat.completions.create(
                response_model=ArticleSummary,
                messages=messages,  # type: ignore[arg-type]
                model=MODEL,
                max_retries=2,
                temperature=0,
                max_tokens=1500,
            )

        def ours() -> None:
            summarize(ARTICLE, base_url=fake.base_url, api_key=KEY, model=MODEL, cache=False)

        times: dict[Callable[[], None], list[float]] = {bare: [], ours: []}
        for fn in times:  # warm up: imports, first connections, schema caches
            for _ in range(5):
                fn()
        for _ in range(calls):  # alternate, so that both see the same machine
            for fn, spent in times.items():
                started = time.perf_counter()
                fn()
                spent.append(time.perf_counter() - started)
    bare_ms = 1000 * statistics.median(times[bare])
    ours_ms = 1000 * statistics.median(times[ours])
    ratio = ours_ms / bare_ms
    return Figure(
        "overhead: summarize() / bare instructor, per call (cache off)",
        ratio,
        "x",
        "<= 1.15",
        ratio <= 1.15,
        f"{calls} calls each, alternated; median {ours_ms:.2f} ms vs {bare_ms:.2f} ms",
    )


# --- concurrency ---------------------------------------------------------------------------


def bench_concurrency(articles: int, latency: float, level: int = 16) -> Figure:
    """Wall time of a batch at concurrency 1 over that at ``level`` (bench_batch.py)."""
    import bench_batch

    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.default = Reply(body=tool_call_reply(GOOD).body, delay=latency)
        bench_batch.run(fake, 4, 4, Path(tmp) / "warm-up.jsonl")
        one = bench_batch.run(fake, articles, 1, Path(tmp) / "c1.jsonl")
        many = bench_batch.run(fake, articles, level, Path(tmp) / f"c{level}.jsonl")
    speedup = float(str(one["wall_s"])) / float(str(many["wall_s"]))
    return Figure(
        f"concurrency: speedup of -j {level} over -j 1",
        speedup,
        "x",
        ">= 12",
        speedup >= 12,
        f"{articles} articles, {latency * 1000:.0f} ms per answer; "
        f"{one['wall_s']} s vs {many['wall_s']} s",
    )


# --- start-up ------------------------------------------------------------------------------


def _command() -> list[str]:
    script = Path(sys.executable).parent / "summarizer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "summarizer"]


def _wall(args: list[str], env: dict[str, str], runs: int) -> float:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def bench_startup(runs: int) -> list[Figure]:
    """Wall time of a fresh ``summarizer --help``, and of a summarize served from the cache."""
    from summarizer import summarize

    help_s = _wall([*_command(), "--help"], _clean_env(), runs)
    with FakeOpenAI() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.default = tool_call_reply(GOOD)
        article = Path(tmp) / "article.txt"
        article.write_text(ARTICLE, "utf-8")
        cache_dir = Path(tmp) / "cache"
        summarize(ARTICLE, base_url=fake.base_url, api_key=KEY, model=MODEL, cache_dir=cache_dir)
        calls = fake.calls
        args = [*_command(), "summarize", str(article), "--base-url", fake.base_url]
        hit_s = _wall(
            [*args, "--model", MODEL], _clean_env(SUMMARIZER_CACHE_DIR=str(cache_dir)), runs
        )
        assert fake.calls == calls, "the cached summarize made a call"
    return [
        Figure("start-up: summarizer --help", help_s, "s", "< 0.3", help_s < 0.3, f"{runs} runs"),
        Figure(
            "start-up: summarizer summarize, a cache hit",
            hit_s,
            "s",
            "< 0.6",
            hit_s < 0.6,
            f"{runs} runs, no call made",
        ),
    ]


# --- grounding -----------------------------------------------------------------------------


def long_article(chars: int = 100_000) -> str:
    """The sample article's paragraphs, numbered so that no two repeat, up to ``chars``."""
    paragraphs = [p for p in SAMPLE.read_text("utf-8").split("\n\n") if p.strip()]
    out: list[str] = []
    size, n = 0, 0
    while size < chars:
        paragraph = f"({n}) {paragraphs[n % len(paragraphs)]}"
        out.append(paragraph)
        size += len(paragraph) + 2
        n += 1
    return "\n\n".join(out)[:chars]


def grounding_quotes(text: str, count: int = 50, seed: int = 7) -> list[str]:
    """``count`` quotes as a model gives them: 40 copied (curly quotes, other spacing, a
    capital letter) from all over the text, 10 that are not in it (a word changed)."""
    rng = random.Random(seed)
    sentences = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.strip()) > 40]
    quotes = []
    for i in range(count):
        sentence = rng.choice(sentences)
        words = sentence.split()
        start = rng.randrange(0, max(1, len(words) - 8))
        quote = " ".join(words[start : start + rng.randint(6, 20)])
        if i % 5 == 4:  # not in the article: the quote's last word changed
            quote += " indeed"
        else:
            quote = quote.replace("'", "\u2019").replace(" ", "  ", 1)
            quote = quote[:1].upper() + quote[1:]
        quotes.append(quote)
    return quotes


def bench_grounding(runs: int) -> Figure:
    """Index one 100,000-character article, then locate 50 quotes in it (what grounding does)."""
    from summarizer.grounding import SourceIndex

    text = long_article()
    quotes = grounding_quotes(text)
    walls, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        index = SourceIndex(text)
        found = sum(index.locate(q) is not None for q in quotes)
        walls.append(time.perf_counter() - started)
    ms = 1000 * statistics.median(walls)
    return Figure(
        "grounding: 50 quotes in a 100,000-character article",
        ms,
        "ms",
        "< 20",
        ms < 20,
        f"{runs} runs; index included; {found} of {len(quotes)} found",
    )


def bench_passages(runs: int) -> list[Figure]:
    """summarize@2's own step: sentences and quotations found in the sample, and in a
    100,000-character article (no model; passages.py)."""
    from summarizer.passages import find_passages

    figures = []
    for name, text, aim, limit in [
        ("passages: the sample article", SAMPLE.read_text("utf-8"), "< 50", 50.0),
        ("passages: a 100,000-character article", long_article(), "< 1000", 1000.0),
    ]:
        find_passages(text)  # the segmenter's rules are compiled once per process
        walls = []
        for _ in range(runs):
            started = time.perf_counter()
            found = find_passages(text)
            walls.append(time.perf_counter() - started)
        ms = 1000 * statistics.median(walls)
        detail = f"{runs} runs; {len(found.sentences)} sentences, {len(found.quotations)} quotes"
        figures.append(Figure(name, ms, "ms", aim, ms < limit, detail))
    return figures


# --- prompt overhead -----------------------------------------------------------------------


def request_body() -> dict[str, Any]:
    """The first request body that summarize() sends, as the server receives it."""
    from summarizer import summarize

    with FakeOpenAI() as fake:
        fake.default = tool_call_reply(GOOD)
        summarize(ARTICLE, base_url=fake.base_url, api_key=KEY, model=MODEL, cache=False)
        body = fake.requests[0]["body"]
    assert isinstance(body, dict)
    return body


def prompt_overhead_texts(body: dict[str, Any]) -> dict[str, str]:
    """What every article pays for: the system message, and the tools as serialized JSON."""
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    tools = json.dumps(body.get("tools", []), separators=(",", ":"), ensure_ascii=False)
    return {"system": system, "tools": tools}


def _tokenizer_gguf() -> Path | None:
    from summarizer.settings import load_settings

    found = sorted(load_settings().models_dir.glob("*.gguf"))
    preferred = [p for p in found if "1.5b" in p.name]
    return (preferred or found or [None])[0]


def bench_prompt_tokens() -> Figure:
    """Tokens of the system prompt plus the tool schema, by the local model's tokenizer."""
    name = "prompt overhead: system prompt + tool schema"
    gguf = _tokenizer_gguf()
    if gguf is None:
        return Figure(name, None, "tokens", "<= 800", None, "skipped: no fetched GGUF")
    try:
        import llama_cpp
    except ImportError:
        return Figure(name, None, "tokens", "<= 800", None, "skipped: no llama-cpp-python")
    vocab = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    texts = prompt_overhead_texts(request_body())
    counts = {k: len(vocab.tokenize(v.encode("utf-8"), add_bos=False)) for k, v in texts.items()}
    total = sum(counts.values())
    return Figure(
        name,
        total,
        "tokens",
        "<= 800",
        total <= 800,
        f"system {counts['system']} + tools {counts['tools']}, {gguf.name} tokenizer",
    )


# --- the local model -----------------------------------------------------------------------


def bench_local_model(sizes: list[str]) -> list[Figure]:
    """The sample article end to end on the embedded local model (bench_local.py)."""
    import bench_local

    figures = []
    for size in sizes:
        row = bench_local.run(size, 1)
        figures.append(
            Figure(
                f"local model {size}: the sample article end to end",
                float(str(row["wall_s"])),
                "s",
                "(reported)",
                None,
                f"{row['calls']} call(s), {row['prompt_tokens']} + {row['completion_tokens']} "
                f"tokens, first answer grounded {row['first_answer']}, server ready in "
                f"{row['server_ready_s']} s",
            )
        )
    return figures


# --- the table -----------------------------------------------------------------------------


def table(figures: list[Figure]) -> str:
    rows = [["figure", "median", "aim", "met?", "how"]]
    for f in figures:
        met = "-" if f.met is None else "yes" if f.met else "NO"
        aim = f.aim if f.aim.startswith("(") else f"{f.aim} {f.unit}".strip()
        rows.append([f.name, f.shown(), aim, met, f.detail])
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + " --- |" * len(rows[0]))
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="also run the local model")
    parser.add_argument("--local-sizes", default="1.5b", help="comma-separated: 0.5b,1.5b")
    parser.add_argument("--quick", action="store_true", help="a tiny configuration")
    parser.add_argument("--json", action="store_true", help="JSON lines, then the table")
    args = parser.parse_args(argv)
    quick = args.quick
    started = datetime.now(UTC)
    steps: list[Callable[[], Figure | list[Figure]]] = [
        lambda: bench_overhead(10 if quick else 200),
        lambda: bench_concurrency(8 if quick else 200, 0.02 if quick else 0.2, 4 if quick else 16),
        lambda: bench_startup(1 if quick else 7),
        lambda: bench_grounding(3 if quick else 21),
        lambda: bench_passages(2 if quick else 11),
        bench_prompt_tokens,
    ]
    if args.local:
        steps.append(lambda: bench_local_model(args.local_sizes.split(",")))
    figures: list[Figure] = []
    for step in steps:
        got = step()
        for figure in got if isinstance(got, list) else [got]:
            figures.append(figure)
            print(f"measured: {figure.name}: {figure.shown()}", file=sys.stderr)
            if args.json:
                print(json.dumps(asdict(figure)))
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {machine()}\n")
    print(table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
