"""Watching a run: its stages, and the answer streamed while it is written, then checked whole."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import pytest
from typer.testing import CliRunner

from summarizer import asummarize, summarize
from summarizer.cli import app
from summarizer.live import LiveView, watching
from tests.fake_openai import FakeOpenAI, streamed_reply, tool_call_reply
from tests.helpers import ARTICLE, GOOD, INVENTED

runner = CliRunner()


class Notes:
    """A watcher that writes down everything it is told."""

    def __init__(self) -> None:
        self.stages: list[str] = []
        self.partials: list[tuple[dict[str, Any], int]] = []
        self.sentences: Mapping[int, str] = {}

    def stage(self, text: str) -> None:
        self.stages.append(text)

    def numbered(self, sentences: Mapping[int, str], quotes: Mapping[int, str]) -> None:
        self.sentences = sentences

    def partial(self, answer: Mapping[str, Any], tokens: int) -> None:
        self.partials.append((dict(answer), tokens))


def ask(fake: FakeOpenAI, **options: Any) -> Any:
    return summarize(ARTICLE, base_url=fake.base_url, model="fake-model", cache=False, **options)


def test_a_watched_run_streams_and_ends_with_the_same_checked_result(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.queue(tool_call_reply(GOOD), streamed_reply(GOOD, size=8))
    plain = ask(fake_openai)
    notes = Notes()
    with watching(notes):
        streamed = ask(fake_openai)
    first, second = (r["body"] for r in fake_openai.requests)
    assert "stream" not in first and second["stream"] is True
    assert second["stream_options"] == {"include_usage": True}
    assert streamed.summary.model_dump() == plain.summary.model_dump()  # checked as before
    assert streamed.meta.usage.prompt_tokens == 100  # from the stream's last chunk
    assert streamed.meta.usage.completion_tokens == len(json.dumps(GOOD)) // 8 + 1
    assert notes.stages == ["asking fake-model"]
    # The answer arrived piece by piece: the watcher saw the headline grow.
    headlines = [a.get("headline", "") for a, _ in notes.partials]
    assert headlines[-1] == GOOD["headline"]
    assert any(0 < len(h) < len(GOOD["headline"]) for h in headlines)
    tokens = [n for _, n in notes.partials]
    assert tokens == sorted(tokens) and tokens[-1] > 10


def test_a_server_that_repeats_the_tool_name_in_every_chunk(fake_openai: FakeOpenAI) -> None:
    """llama-cpp-python does; a naive accumulator makes "ArticleSummaryArticleSummary..."."""
    fake_openai.queue(streamed_reply(GOOD, repeat_name=True, usage=False))
    with watching(Notes()):
        result = ask(fake_openai)
    assert result.summary.source_quotes[0].speaker == "Farid Ahmad Amiri"
    assert result.meta.usage.prompt_tokens is None  # no usage came: unknown, not guessed


def test_a_re_ask_is_a_stage_of_its_own(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(streamed_reply(INVENTED), streamed_reply(GOOD))
    notes = Notes()
    with watching(notes):
        result = ask(fake_openai, max_attempts=3)
    assert result.meta.calls == 2
    assert notes.stages[0] == "asking fake-model"
    assert notes.stages[1].startswith("re-asking (2 of 3): ")
    assert "not copied exactly from the article" in notes.stages[1]  # the reason


async def test_the_async_twin_streams_too(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(streamed_reply(GOOD))
    notes = Notes()
    with watching(notes):
        result = await asummarize(
            ARTICLE, base_url=fake_openai.base_url, model="fake-model", cache=False
        )
    assert fake_openai.requests[0]["body"]["stream"] is True
    assert result.summary.key_facts[0].statement == "Eight civilians died."
    assert notes.partials


def test_cited_answers_are_shown_with_the_sentences_they_name(fake_openai: FakeOpenAI) -> None:
    """summarize@2 answers with ids; the view shows the article's words for them."""
    clock = iter(float(t) for t in range(1000))
    out = io.StringIO()
    view = LiveView(file=out, clock=lambda: next(clock))
    view.numbered({1: "Rockets hit central Kabul on Saturday."}, {1: "It's so traumatic,"})
    view.stage("asking fake-model")
    view.partial({"headline": "Rockets hit Kabul", "key_facts": [{"sentences": [1]}]}, 3)
    view.partial(
        {
            "headline": "Rockets hit Kabul",
            "key_facts": [{"sentences": [1]}],
            "quotes": [{"id": 1, "speaker": "Farid Ahmad Amiri"}],
        },
        9,
    )
    rows = view._rows()
    assert rows == [
        "headline: Rockets hit Kabul",
        "fact: Rockets hit central Kabul on Saturday.",
        "quote: It's so traumatic, (Farid Ahmad Amiri)",
    ]
    assert view.tokens_per_s == pytest.approx(6.0)  # 6 more chunks, in 1 s
    view._finish_stage()
    assert "asking fake-model" in out.getvalue() and "9 tokens at 6.0/s" in out.getvalue()


@pytest.mark.parametrize(
    ("terminal", "flag", "streams"),
    [
        (True, [], True),
        (True, ["--no-progress"], False),
        (False, [], False),
    ],
)
def test_the_command_line_shows_progress_only_on_a_terminal(
    fake_openai: FakeOpenAI,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
    flag: list[str],
    streams: bool,
) -> None:
    monkeypatch.setattr("summarizer.cli._on_terminal", lambda: terminal)
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE, "utf-8")
    fake_openai.queue(streamed_reply(GOOD) if streams else tool_call_reply(GOOD))
    args = ["summarize", str(article), "--base-url", fake_openai.base_url, "--model", "m"]
    done = runner.invoke(app, [*args, "--no-cache", *flag])
    assert done.exit_code == 0, done.output
    assert ("stream" in fake_openai.requests[0]["body"]) is streams
    data = json.loads(done.stdout)  # stdout holds the result and nothing else
    assert data["summary"]["key_facts"][0]["statement"] == "Eight civilians died."
    if streams:
        assert "asking m" in done.stderr and "checked: 1 key fact(s)" in done.stderr


def test_stage_text_is_printed_as_written_not_as_markup() -> None:
    """A re-ask's reason quotes the answer: "key_facts[0]", "[bold]" are text here."""
    out = io.StringIO()
    view = LiveView(file=out)
    view.stage("re-asking (2 of 3): key_facts[0] [bold]x[/bold]")
    view.stage("asking m")
    view.done("checked: [1] fact")
    assert "key_facts[0] [bold]x[/bold]" in out.getvalue()
    assert "checked: [1] fact" in out.getvalue()


@pytest.mark.parametrize("use_async", [False, True])
def test_a_long_articles_parts_are_asked_at_once_and_only_the_merge_streams(
    fake_openai: FakeOpenAI, use_async: bool
) -> None:
    """Three answers streaming into one view at once would garble it: the parts are not
    streamed (the stage says how many are asked), the one merge is."""
    import asyncio

    from tests.helpers import CONTEXT, LONG_ARTICLE, MAX_TOKENS, MERGED, answer_parts, is_merge

    fake_openai.responder = answer_parts(merge=streamed_reply(MERGED))
    notes = Notes()
    options: dict[str, Any] = {
        "base_url": fake_openai.base_url,
        "model": "fake-model",
        "cache": False,
        "context_tokens": CONTEXT,
        "max_tokens": MAX_TOKENS,
    }
    with watching(notes):
        if use_async:
            result = asyncio.run(asummarize(LONG_ARTICLE, **options))
        else:
            result = summarize(LONG_ARTICLE, **options)
    assert result.meta.chunks == 3
    streamed = [("stream" in r["body"], is_merge(r)) for r in fake_openai.requests]
    assert sorted(streamed) == [(False, False)] * 3 + [(True, True)]
    assert notes.stages == ["asking for 3 parts at once", "asking fake-model"]
    assert notes.partials and notes.partials[-1][0]["headline"] == MERGED["headline"]


def test_the_embedded_servers_stream_gets_its_tokens_counted(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """llama-cpp-python streams no usage; when the server is the one we started, the
    prompt is counted by its tokenizer and the answer is one token a chunk."""
    counted: list[list[dict[str, Any]]] = []

    def ours(base_url: str | None, messages: list[dict[str, Any]]) -> int | None:
        counted.append(messages)
        return 1234 if base_url == fake_openai.base_url else None

    monkeypatch.setattr("summarizer.local.prompt_tokens", ours)
    fake_openai.queue(streamed_reply(GOOD, size=8, usage=False, repeat_name=True))
    notes = Notes()
    with watching(notes):
        result = ask(fake_openai)
    usage = result.meta.usage
    assert usage.prompt_tokens == 1234 and usage.completion_tokens == notes.partials[-1][1]
    assert counted == [fake_openai.requests[0]["body"]["messages"]]  # what was sent
