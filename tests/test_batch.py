"""Many articles at once: each accounted for exactly once, through faults, kills and reruns.

Every test runs against the scripted fake server (tests/fake_openai.py); its answer
is grounded in every article here, since each is ARTICLE under a numbered line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import summarizer
from summarizer import BatchItem, ConfigError, asummarize_many, local, summarize_many
from summarizer.batch import BatchTally, ResultsFile, discover
from summarizer.cli import app
from tests.conftest import ROOT
from tests.fake_openai import FakeOpenAI, Reply, tool_call_reply
from tests.helpers import ARTICLE, GOOD, INVENTED, SECRET

runner = CliRunner()


def dispatch(n: int) -> str:
    return f"Dispatch {n}.\n\n{ARTICLE}"


def items(count: int) -> list[tuple[str, str]]:
    return [(f"a{n:03}", dispatch(n)) for n in range(count)]


def article_number(request: dict[str, Any]) -> int:
    found = re.search(r"Dispatch (\d+)\.", json.dumps(request["body"]["messages"]))
    assert found, "not one of this module's articles"
    return int(found[1])


def endpoint(fake: FakeOpenAI, **more: Any) -> dict[str, Any]:
    """Point at the fake; retry transient faults at once (no real sleeps)."""
    return {
        "base_url": fake.base_url,
        "api_key": SECRET,
        "model": "fake-model",
        "max_retry_wait": 0,
        **more,
    }


def lines(path: Path) -> list[dict[str, Any]]:
    """The output file, every line of which must be whole JSON."""
    raw = path.read_text("utf-8")
    assert raw == "" or raw.endswith("\n"), "the last line is cut short"
    return [json.loads(line) for line in raw.splitlines()]


class TransientFaults:
    """The fake answers 503 to the first request of every tenth article: 10% of them."""

    def __init__(self) -> None:
        self.faulted: set[int] = set()

    def __call__(self, request: dict[str, Any]) -> Reply | None:
        n = article_number(request)
        if n % 10 == 0 and n not in self.faulted:
            self.faulted.add(n)
            return Reply(503, {"error": {"message": "overloaded, try again"}})
        return None


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.default = tool_call_reply(GOOD)
    return fake_openai


def test_200_articles_with_faults_interrupted_resumed_then_all_from_the_cache(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.responder = TransientFaults()
    out = tmp_path / "results.jsonl"
    first = []
    for done in summarize_many(items(200), out=out, concurrency=16, **endpoint(fake)):
        first.append(done.id)
        if len(first) == 60:
            break  # leaving the loop stops the articles in flight, as Ctrl-C does
    assert [line["id"] for line in lines(out)] == first

    tally = BatchTally()
    rest = list(summarize_many(items(200), out=out, concurrency=16, tally=tally, **endpoint(fake)))
    assert tally.skipped == 60 and len(rest) == 140 and not set(first) & {r.id for r in rest}
    written = lines(out)
    assert Counter(line["id"] for line in written) == Counter(f"a{n:03}" for n in range(200))
    assert all(line["ok"] for line in written)
    # 200 answers, 20 refused once and retried, and at most 16 asked twice: those in flight
    assert 220 <= fake.calls <= 220 + 16
    for done in rest:  # 16 at a time in one loop, each grounded in its own text
        assert done.result is not None
        quote = done.result.summary.source_quotes[0]
        assert quote.span is not None
        assert dict(items(200))[done.id][quote.span.start : quote.span.end] == quote.text
    faulted = next(r for r in rest if r.result and len(r.result.meta.attempts) == 2)
    assert faulted.result is not None
    assert [a.kind for a in faulted.result.meta.attempts] == ["transport", "ok"]
    # finished but not yet written when the loop was left: asked once, now from the cache
    assert tally.usage.total_tokens == (140 - tally.cached) * 150  # a refused call costs 0

    calls = fake.calls
    again = BatchTally()
    second = list(
        summarize_many(
            items(200), out=tmp_path / "again.jsonl", concurrency=16, tally=again, **endpoint(fake)
        )
    )
    assert fake.calls == calls  # not one more call
    assert all(r.cached for r in second) and again.cached == 200
    assert (again.calls, again.tokens, again.cost_usd) == (0, 0, 0.0)
    assert len(lines(tmp_path / "again.jsonl")) == 200


def test_a_line_cut_short_by_a_kill_is_done_again(fake: FakeOpenAI, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    list(summarize_many(items(3), out=out, **endpoint(fake)))
    with out.open("ab") as handle:
        handle.write(b'{"id": "a003", "source": "a003", "ok": tr')  # killed mid-write

    redone = [r.id for r in summarize_many(items(5), out=out, **endpoint(fake))]
    assert sorted(redone) == ["a003", "a004"]
    assert sorted(line["id"] for line in lines(out)) == [f"a{n:03}" for n in range(5)]


def test_a_resumed_out_file_keeps_its_permissions(fake: FakeOpenAI, tmp_path: Path) -> None:
    """Resuming rewrites the file through a temp file (mkstemp: 0600); it must not turn private."""
    umask = os.umask(0o022)
    try:
        for mode in (0o644, 0o664):
            out = tmp_path / f"results-{mode:o}.jsonl"
            list(summarize_many(items(2), out=out, **endpoint(fake)))
            assert out.stat().st_mode & 0o777 == 0o644  # as a plain open() makes it
            out.chmod(mode)
            with out.open("ab") as handle:
                handle.write(b'{"id": "a002", "ok": tr')  # cut short: the rerun rewrites the file
            list(summarize_many(items(3), out=out, **endpoint(fake)))
            assert len(lines(out)) == 3
            assert out.stat().st_mode & 0o777 == mode
    finally:
        os.umask(umask)


def test_failed_articles_are_retried_on_a_rerun_unless_kept(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    fake.queue(Reply(400, {"error": {"message": "bad request"}}))
    first = list(summarize_many(items(3), out=out, concurrency=1, **endpoint(fake)))
    assert [r.ok for r in first] == [False, True, True]

    kept = list(summarize_many(items(3), out=out, retry_failed=False, **endpoint(fake)))
    assert kept == [] and [line["ok"] for line in lines(out)] == [False, True, True]

    retried = list(summarize_many(items(3), out=out, **endpoint(fake)))
    assert [(r.id, r.ok) for r in retried] == [("a000", True)]
    assert sorted((line["id"], line["ok"]) for line in lines(out)) == [
        ("a000", True),
        ("a001", True),
        ("a002", True),
    ]


def test_one_articles_failure_never_stops_the_others(fake: FakeOpenAI, tmp_path: Path) -> None:
    source = tmp_path / "articles.jsonl"
    records = [
        {"id": "good-1", "text": dispatch(1), "title": "Kabul"},
        {"id": "empty", "text": "   "},
        {"id": "refused", "text": dispatch(2)},
        {"id": "invented", "text": dispatch(3)},
        {"id": "good-2", "text": dispatch(4)},
    ]
    source.write_text(
        "\n".join([*map(json.dumps, records), "{not json", '{"id": "no-text"}']) + "\n"
    )

    def answer(request: dict[str, Any]) -> Reply | None:
        return {2: Reply(400, {"error": {"message": "no"}}), 3: tool_call_reply(INVENTED)}.get(
            article_number(request)
        )

    fake.responder = answer
    out = tmp_path / "results.jsonl"
    tally = BatchTally()
    results = {
        r.id: r
        for r in summarize_many(
            discover([source]), out=out, tally=tally, on_ungrounded="fail", **endpoint(fake)
        )
    }

    assert {i for i, r in results.items() if r.ok} == {"good-1", "good-2"}
    errors = {line["id"]: line["error"] for line in lines(out) if not line["ok"]}
    assert {i: (e["type"], e["exit_code"]) for i, e in errors.items()} == {
        "empty": ("InputError", 3),
        "refused": ("ModelError", 4),
        "invented": ("ValidationFailedError", 5),
        f"{source}:6": ("InputError", 3),
        "no-text": ("InputError", 3),
    }
    assert "not a JSON line" in errors[f"{source}:6"]["message"]
    assert errors["invented"]["usage"]["total_tokens"] == 300  # both answers are paid for
    assert (tally.ok, tally.failed) == (2, 5)


def test_the_concurrency_is_a_ceiling(fake: FakeOpenAI) -> None:
    arrived: list[float] = []

    def slow(request: dict[str, Any]) -> Reply:
        arrived.append(time.monotonic())
        return Reply(body=tool_call_reply(GOOD).body, delay=0.2)

    fake.responder = slow
    list(summarize_many(items(8), concurrency=4, **endpoint(fake)))
    arrived.sort()
    assert arrived[3] - arrived[0] < 0.15  # the first four together
    assert arrived[4] - arrived[0] >= 0.18  # the fifth only once one of them is done


def test_the_token_budget_stops_new_articles_and_a_rerun_finishes(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    tally = BatchTally()
    first = list(
        summarize_many(
            items(20), out=out, concurrency=2, budget_tokens=450, tally=tally, **endpoint(fake)
        )
    )
    assert len(first) in (3, 4)  # 150 tokens each; the one in flight at 450 finishes
    assert tally.not_started == 20 - len(first)
    assert "token budget of 450 spent" in tally.summary()

    list(summarize_many(items(20), out=out, **endpoint(fake)))
    assert sorted(line["id"] for line in lines(out)) == [f"a{n:03}" for n in range(20)]


def test_usage_and_cost_per_article_and_for_the_batch(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    tally = BatchTally()
    [done] = summarize_many(items(1), tally=tally, **endpoint(fake, model="gpt-4o-mini"))
    assert done.result is not None
    assert done.result.meta.cost_usd == pytest.approx((100 * 0.15 + 50 * 0.60) / 1e6)
    assert tally.cost_usd == done.result.meta.cost_usd
    assert "about $0.0000" in tally.summary()

    unknown = BatchTally()
    list(summarize_many(items(2), tally=unknown, **endpoint(fake, model="my-own-model")))
    assert unknown.cost_usd is None and "cost unknown" in unknown.summary()

    monkeypatch.setenv("SUMMARIZER_PRICES", '{"my-own-model": [1000, 2000]}')
    priced = BatchTally()
    list(
        summarize_many(items(2), tally=priced, cache=False, **endpoint(fake, model="my-own-model"))
    )
    assert priced.cost_usd == pytest.approx(2 * (100 * 1000 + 50 * 2000) / 1e6)
    assert "about $0.4000" in priced.summary()


def test_one_local_server_serves_the_whole_batch_and_none_starts_for_cached_results(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    events: list[str] = []

    class StandIn:
        def __init__(self, gguf: Path, alias: str, **kw: object) -> None:
            self.base_url = fake.base_url

        def __enter__(self) -> StandIn:
            events.append("start")
            return self

        def __exit__(self, *exc: object) -> None:
            events.append("stop")

        async def __aenter__(self) -> StandIn:  # a batch starts it without blocking its loop
            events.append("start")
            return self

        async def __aexit__(self, *exc: object) -> None:
            events.append("stop")

    gguf = tmp_path / "Small.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(local, "require_server_extra", lambda: None)
    monkeypatch.setattr(local, "LocalServer", StandIn)

    results = list(summarize_many(items(12), concurrency=4, gguf=gguf))
    assert events == ["start", "stop"]
    assert {r.result.meta.model for r in results if r.result} == {"small"}
    assert {r["body"]["model"] for r in fake.requests} == {"small"}

    assert all(r.cached for r in summarize_many(items(12), gguf=gguf))
    assert events == ["start", "stop"]  # nothing to ask: no server started


def test_an_endpoint_that_cannot_start_stops_the_batch_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # no local extra
    out = tmp_path / "results.jsonl"
    given = [("empty", " "), *items(3)]
    with pytest.raises(summarizer.LocalModelError, match=r"pip install 'summarizer\[local\]'"):
        list(summarize_many(given, out=out, concurrency=1))
    assert [line["id"] for line in lines(out)] == ["empty"]  # what finished is kept

    result = runner.invoke(
        app, ["batch", str(tmp_path), "-o", str(tmp_path / "r.jsonl")], catch_exceptions=False
    )
    assert result.exit_code == 3  # tmp_path holds no article: before any model is asked
    (tmp_path / "a.txt").write_text(ARTICLE)
    result = runner.invoke(
        app, ["batch", str(tmp_path), "-o", str(tmp_path / "r.jsonl")], catch_exceptions=False
    )
    assert result.exit_code == 4 and "summarizer[local]" in result.stderr


def test_the_output_cannot_be_an_input(tmp_path: Path) -> None:
    source = tmp_path / "articles.jsonl"
    source.write_text(json.dumps({"id": "1", "text": ARTICLE}) + "\n")
    result = runner.invoke(
        app, ["batch", str(source), "--out", str(source)], catch_exceptions=False
    )
    assert result.exit_code == 2 and "is one of the inputs" in result.stderr


def test_two_runs_cannot_write_one_file(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with ResultsFile(out), pytest.raises(ConfigError, match="another `summarizer batch`"):
        ResultsFile(out).open()


def test_a_file_that_is_not_batch_output_is_refused(fake: FakeOpenAI, tmp_path: Path) -> None:
    out = tmp_path / "articles.jsonl"
    out.write_text(json.dumps({"id": "x", "text": "an input, not an output"}) + "\n")
    with pytest.raises(ConfigError, match="not a result line"):
        list(summarize_many(items(1), out=out, **endpoint(fake)))
    assert fake.calls == 0


def test_discover_reads_files_directories_and_jsonl(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    for name in ("b.txt", "a.md", "notes.csv", ".hidden.txt"):
        (folder / name).write_text(ARTICLE)
    (folder / "sub").mkdir()
    lines_file = tmp_path / "more.jsonl"
    lines_file.write_text('{"id": 7, "text": "Seven.", "title": "T"}\n\n{"text": "No id."}\n')

    found = discover([folder, str(folder / "a.md"), lines_file])
    assert [i.id for i in found] == [
        str(folder / "a.md"),
        str(folder / "b.txt"),
        "7",
        f"{lines_file}:3",
    ]  # a.md named twice counts once
    assert (found[2].text, found[2].title, found[2].source) == ("Seven.", "T", f"{lines_file}:1")

    with pytest.raises(ConfigError, match="duplicate id '7'"):
        discover([lines_file, lines_file])
    with pytest.raises(summarizer.InputError, match=r"no \.txt, \.md or \.html files"):
        discover([folder / "sub"])


def test_items_can_be_texts_articles_pairs_or_batch_items(fake: FakeOpenAI) -> None:
    given = [
        dispatch(1),
        ("mine", dispatch(2)),
        BatchItem(id="item", text=dispatch(3), title="A title"),
        summarizer.Article(dispatch(4), source="wire/4"),
    ]
    ids = {r.id for r in summarize_many(given, **endpoint(fake))}
    assert ids == {"#1", "mine", "item", "wire/4"}
    titled = next(r for r in fake.requests if "Dispatch 3." in str(r["body"]))
    assert "A title" in json.dumps(titled["body"]["messages"])
    with pytest.raises(ConfigError, match="duplicate id 'x'"):
        list(summarize_many([("x", "one"), ("x", "two")], **endpoint(fake)))


async def test_asummarize_many_is_the_async_twin(fake: FakeOpenAI) -> None:
    async with contextlib.aclosing(asummarize_many(items(5), **endpoint(fake))) as results:
        ids = [done.id async for done in results]
    assert sorted(ids) == [f"a{n:03}" for n in range(5)]
    with pytest.raises(ConfigError, match="use asummarize_many"):
        next(iter(summarize_many(items(1), **endpoint(fake))))


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    news = tmp_path / "news"
    news.mkdir()
    for n in range(12):
        (news / f"{n:02}.txt").write_text(dispatch(n))
    return news


def test_batch_command_shows_progress_and_a_rerun_skips_what_is_done(
    fake: FakeOpenAI, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    command = ["batch", str(folder), "--out", str(out), "-j", "4", "--base-url", fake.base_url]
    result = runner.invoke(app, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # stdout stays clean; the results are in --out
    assert "summarizing" in result.stderr and "12/12" in result.stderr
    assert "12 article(s): 12 ok (0 from the cache), 0 failed" in result.stderr
    assert len(lines(out)) == 12 and fake.calls == 12

    again = runner.invoke(app, command, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "0 ok (0 from the cache), 0 failed, 12 already done" in again.stderr
    assert len(lines(out)) == 12 and fake.calls == 12

    fresh = runner.invoke(
        app, [*command[:3], str(tmp_path / "new.jsonl"), *command[4:]], catch_exceptions=False
    )
    assert "12 ok (12 from the cache)" in fresh.stderr and fake.calls == 12
    uncached = runner.invoke(
        app,
        [*command[:3], str(tmp_path / "n2.jsonl"), *command[4:], "--no-cache"],
        catch_exceptions=False,
    )
    assert "12 ok (0 from the cache)" in uncached.stderr and fake.calls == 24


def test_batch_command_exits_1_when_an_article_failed(
    fake: FakeOpenAI, folder: Path, tmp_path: Path
) -> None:
    (folder / "empty.txt").write_text("")
    out = tmp_path / "r.jsonl"
    result = runner.invoke(
        app,
        ["batch", str(folder), "-o", str(out), "--base-url", fake.base_url],
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert re.search(r"failed: .*empty\.txt: .*empty", result.stderr)
    assert "12 ok (0 from the cache), 1 failed" in result.stderr
    assert len(lines(out)) == 13


def start_batch(command: list[str], *, sigint: str = "default") -> subprocess.Popen[str]:
    """``summarizer`` in a child whose SIGINT handling is set here, not inherited.

    A child inherits an ignored SIGINT (a background job of a non-interactive shell,
    as a CI runner or a scheduler starts it), and Python then installs no
    KeyboardInterrupt handler; the wrapper sets the disposition explicitly, so the
    test does not depend on how the suite was started.
    """
    handler = {"default": "signal.default_int_handler", "ignored": "signal.SIG_IGN"}[sigint]
    wrapper = (
        "import signal, sys\n"
        f"signal.signal(signal.SIGINT, {handler})\n"
        "from summarizer.cli import main\n"
        "sys.argv[0] = 'summarizer'\n"
        "main()\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", wrapper, *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_lines(out: Path, count: int, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while (not out.exists() or len(out.read_bytes().splitlines()) < count) and (
        time.monotonic() < deadline
    ):
        assert child.poll() is None, child.communicate()
        time.sleep(0.02)


@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=lambda sig: sig.name
)
def test_a_killed_batch_command_leaves_a_valid_file_and_a_rerun_completes_it(
    fake: FakeOpenAI, folder: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    for n in range(12, 40):
        (folder / f"{n:02}.txt").write_text(dispatch(n))
    fake.default = Reply(body=tool_call_reply(GOOD).body, delay=0.05)
    out = tmp_path / "r.jsonl"
    command = ["batch", str(folder), "--out", str(out), "-j", "4", "--base-url", fake.base_url]
    child = start_batch(command)
    try:
        wait_for_lines(out, 8, child)
        child.send_signal(sig)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    expected = {signal.SIGKILL: -signal.SIGKILL, signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    assert child.returncode == expected, stderr
    assert 8 <= len(lines(out)) < 40, "killed mid-run"
    if sig != signal.SIGKILL:
        assert "run the same command again to resume" in stderr

    rerun = runner.invoke(app, command, catch_exceptions=False)
    assert rerun.exit_code == 0, rerun.output
    ids = Counter(line["id"] for line in lines(out))
    assert ids == Counter(str(folder / f"{n:02}.txt") for n in range(40))
    assert fake.calls <= 40 + 4  # only what was in flight at the kill is asked twice


def test_a_batch_started_with_sigint_ignored_keeps_ignoring_it_and_stops_on_sigterm(
    fake: FakeOpenAI, folder: Path, tmp_path: Path
) -> None:
    """What a shell's background job gets: SIGINT ignored. summarizer respects that
    (a Ctrl-C meant for the foreground job does not stop it); SIGTERM still does."""
    for n in range(12, 40):
        (folder / f"{n:02}.txt").write_text(dispatch(n))
    fake.default = Reply(body=tool_call_reply(GOOD).body, delay=0.2)  # 20 rounds: 4 s
    out = tmp_path / "r.jsonl"
    command = ["batch", str(folder), "--out", str(out), "-j", "2", "--base-url", fake.base_url]
    child = start_batch(command, sigint="ignored")
    try:
        wait_for_lines(out, 2, child)
        child.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert child.poll() is None, "SIGINT stopped a run that was started with it ignored"
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, stderr
    assert 2 <= len(lines(out)) < 40
    assert "run the same command again to resume" in stderr


def test_batch_help_and_the_package_export_it() -> None:
    assert "summarize_many" in summarizer.__all__
    result = runner.invoke(app, ["batch", "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    for option in ("--out", "--concurrency", "--budget-tokens", "--no-cache", "--keep-failed"):
        assert option in result.stdout
