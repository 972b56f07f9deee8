"""The result cache: a hit costs no call, the key covers what changes the answer,
and a cache that is corrupt or locked is reported and bypassed, never a crash."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from summarizer import Article, SummaryResult, local, summarize
from summarizer.cache import CACHE_FILE, ResultCache, cache_key
from summarizer.cli import app
from summarizer.prompts import load_prompt
from summarizer.settings import load_settings
from tests.fake_openai import FakeOpenAI, tool_call_reply
from tests.helpers import ARTICLE, GOOD, SECRET

runner = CliRunner()


def run(fake: FakeOpenAI, text: str = ARTICLE, **kw: Any) -> SummaryResult:
    return summarize(text, base_url=fake.base_url, api_key=SECRET, model="fake-model", **kw)


@pytest.fixture
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    fake_openai.default = tool_call_reply(GOOD)
    return fake_openai


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "cache" / CACHE_FILE  # where conftest points SUMMARIZER_CACHE_DIR


def test_a_second_summary_of_the_same_article_costs_no_call(
    fake: FakeOpenAI, cache_file: Path
) -> None:
    first = run(fake)
    second = run(fake)
    assert fake.calls == 1
    assert (first.meta.cached, second.meta.cached) == (False, True)
    assert second.summary.model_dump() == first.summary.model_dump()
    assert second.meta.usage == first.meta.usage  # what the stored result cost to make
    assert cache_file.exists()

    run(fake, cache=False)
    assert fake.calls == 2  # --no-cache: not read...
    assert ResultCache(cache_file).stats().entries == 1  # ...and not written


def test_a_different_article_or_title_misses(fake: FakeOpenAI) -> None:
    run(fake)
    run(fake, ARTICLE + "\nA late update.\n")
    run(fake, title="Kabul attack")
    assert fake.calls == 3


def key(text: str = ARTICLE, title: str | None = None, **settings: Any) -> str:
    chosen = {"base_url": "http://127.0.0.1:8080/v1", "model": "m", **settings}
    resolved = load_settings(**chosen)
    prompt = load_prompt(resolved.prompt, resolved.prompt_version)
    return cache_key(Article.from_text(text), prompt, title, resolved)


@pytest.mark.parametrize(
    "change",
    [
        {"text": ARTICLE + "."},
        {"title": "A title"},
        {"model": "another-model"},
        {"base_url": "http://127.0.0.1:9999/v1"},
        {"mode": "json"},
        {"temperature": 0.7},
        {"max_tokens": 800},
        {"max_attempts": 1},
        {"on_ungrounded": "fail"},
    ],
)
def test_every_setting_that_changes_the_answer_changes_the_key(change: dict[str, Any]) -> None:
    assert key(**change) != key()


@pytest.mark.parametrize(
    "change",
    [
        {"api_key": SECRET},
        {"timeout": 5},
        {"transport_retries": 0},
        {"max_retry_wait": 1},
        {"prompt_version": 1},  # the latest, named: the same prompt
        {"text": ARTICLE.replace("\n", "\r\n")},  # the same text once line endings are normalised
    ],
)
def test_what_does_not_change_the_answer_keeps_the_key(change: dict[str, Any]) -> None:
    assert key(**change) == key()
    assert SECRET not in key(api_key=SECRET)


def test_a_cached_result_starts_no_local_server(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[str] = []

    class StandIn:
        def __init__(self, gguf: Path, alias: str, **kw: object) -> None:
            self.base_url = fake.base_url

        def __enter__(self) -> StandIn:
            started.append("start")
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    gguf = tmp_path / "Small.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(local, "require_server_extra", lambda: None)
    monkeypatch.setattr(local, "LocalServer", StandIn)
    summarize(ARTICLE, gguf=gguf)
    assert summarize(ARTICLE, gguf=gguf).meta.cached
    assert started == ["start"]


def test_a_corrupt_cache_file_is_reported_and_bypassed(
    fake: FakeOpenAI, cache_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(b"this is not a database, just some bytes\n" * 100)
    with caplog.at_level(logging.WARNING, logger="summarizer"):
        run(fake)
        second = run(fake)
    assert fake.calls == 2 and not second.meta.cached
    assert "is not usable" in caplog.text and "continuing without it" in caplog.text

    result = runner.invoke(app, ["cache", "clear"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "was not a usable cache" in result.stderr
    run(fake)
    assert run(fake).meta.cached  # a fresh file works again


def test_a_locked_cache_is_reported_and_bypassed(
    cache_file: Path, caplog: pytest.LogCaptureFixture, fake: FakeOpenAI
) -> None:
    stored = run(fake)
    holder = sqlite3.connect(cache_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    try:
        with caplog.at_level(logging.WARNING, logger="summarizer"):
            cache = ResultCache(cache_file, busy_timeout=0.05)
            assert cache.get("anything") is None
            cache.put("k", stored)  # a no-op now: bypassed, not raised
        assert not cache.enabled and "locked" in caplog.text
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_writers_at_the_same_time_wait_for_each_other_and_lose_nothing(
    fake: FakeOpenAI, cache_file: Path
) -> None:
    result = run(fake)
    errors: list[BaseException] = []
    holder = sqlite3.connect(cache_file, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write...
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()  # ...for 0.3 s

    def writer(number: int) -> None:
        with ResultCache(cache_file) as cache:
            for i in range(50):
                cache.put(f"writer{number}-{i}", result)
            if cache.error is not None:
                errors.append(cache.error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    holder.close()
    assert errors == []
    assert ResultCache(cache_file).stats().entries == 1 + 4 * 50
    with sqlite3.connect(cache_file) as db:  # readers never wait for a writer
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_results_saved_before_these_fields_existed_still_load(fake: FakeOpenAI) -> None:
    saved = json.loads(run(fake).model_dump_json())
    del saved["meta"]["cached"], saved["meta"]["cost_usd"]
    loaded = SummaryResult.model_validate(saved)
    assert (loaded.meta.cached, loaded.meta.cost_usd) == (False, None)


def test_cache_stats_and_clear(fake: FakeOpenAI, cache_file: Path) -> None:
    empty = runner.invoke(app, ["cache", "stats"], catch_exceptions=False)
    assert empty.exit_code == 0 and "results\t0" in empty.stdout

    run(fake)
    run(fake, title="Another")
    stats = runner.invoke(app, ["cache", "stats"], catch_exceptions=False)
    assert stats.exit_code == 0, stats.output
    assert f"path\t{cache_file}" in stats.stdout
    assert "results\t2" in stats.stdout
    assert "tokens\t300 " in stats.stdout
    assert "fake-model" in stats.stdout

    cleared = runner.invoke(app, ["cache", "clear"], catch_exceptions=False)
    assert cleared.exit_code == 0 and "removed 2 result(s)" in cleared.stderr
    assert "results\t0" in runner.invoke(app, ["cache", "stats"], catch_exceptions=False).stdout
    run(fake)
    assert fake.calls == 3


def test_summarize_command_no_cache(fake: FakeOpenAI, tmp_path: Path) -> None:
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE)
    command = ["summarize", str(article), "--base-url", fake.base_url, "--model", "fake-model"]
    for extra in ([], [], ["--no-cache"]):
        result = runner.invoke(app, [*command, *extra], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    assert fake.calls == 2
    assert json.loads(result.stdout)["meta"]["cached"] is False


def test_prices_come_from_the_built_in_table_or_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings()
    assert settings.price("gpt-4o-mini") == (0.15, 0.60)
    assert settings.price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)  # a dated snapshot
    assert settings.price("qwen2.5-coder-1.5b-instruct") is None  # unknown, never 0
    monkeypatch.setenv("SUMMARIZER_PRICES", '{"gpt-4o-mini": [1, 2], "mine": [0, 0]}')
    overridden = load_settings()
    assert overridden.price("gpt-4o-mini") == (1, 2)
    assert overridden.price("mine") == (0, 0)
