"""Replays of a real model (cassettes/README.md says which) on the sample article.

These assert what the recorded model really answered and what the program did
with it: offsets that point at the exact words, items dropped and named, every
call's tokens counted. Re-record with SUMMARIZER_RECORD=1 (see conftest.py);
a changed prompt or schema changes the request body and misses its cassette.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from summarizer import SummaryResult, asummarize, summarize
from summarizer.checks import support
from summarizer.clean import clean_text
from summarizer.cli import app
from summarizer.passages import find_passages
from summarizer.verify import verify_summary
from tests.conftest import RECORD_MODEL, RECORDING, SAMPLE, recorder


def assert_grounded(result: SummaryResult, given: str) -> None:
    """Every quote and evidence passage that came back stands at its offsets in the
    article as given (grounding ran on the cleaned text the model saw; the offsets
    were moved back)."""
    text = given
    assert result.meta.article_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert result.meta.cleaning is None or result.meta.cleaning.text_sha256 == (
        hashlib.sha256(clean_text(given).text.encode()).hexdigest()
    )
    for removed in result.meta.cleaning.removed if result.meta.cleaning else []:
        assert given[removed.start : removed.end] == removed.text
    for quote in result.summary.source_quotes:
        assert quote.span is not None
        assert text[quote.span.start : quote.span.end] == quote.text
    for fact in result.summary.key_facts:
        assert len(fact.evidence) == len(fact.evidence_spans) >= 1
        for passage, span in zip(fact.evidence, fact.evidence_spans, strict=True):
            assert span is not None
            assert text[span.start : span.end] == passage or span.fragments
    assert all(check.ok for check in verify_summary(result.summary, text))


@pytest.mark.cassette("kabul-1.5b")
def test_sample_article(cassette: Any, recorded_endpoint: dict[str, Any], sample_text: str) -> None:
    result = summarize(sample_text, **recorded_endpoint)
    assert_grounded(result, sample_text)
    meta = result.meta
    assert meta.model == RECORD_MODEL
    assert len(meta.attempts) == len(cassette.data)
    assert meta.usage.total_tokens == sum(
        json.loads(response["body"]["string"])["usage"]["total_tokens"]
        for _, response in cassette.data
    )
    if RECORDING:
        return  # what follows is what the recorded model said; a new recording may differ

    # The model never saw the scraper's leftovers: the JavaScript notice (which it
    # quoted in earlier runs), the two repeated image captions and the share buttons.
    assert meta.cleaning is not None
    assert [r.reason for r in meta.cleaning.removed] == [
        "JavaScript notice",
        "repeated line",
        "repeated line",
        "share buttons",
    ]
    sent = json.loads(cassette.requests[0].body)["messages"][1]["content"]
    assert "JavaScript" not in sent and "Shariff" not in sent
    assert sent.count("A truck in its bed near the rocket attack site") == 1

    # The 1.5B model's second fact paraphrased its evidence ("Mr. Pompeo met with
    # leaders of the Afghan government..."; the article says "State Secretary Mike
    # Pompeo met with leaders..."). The re-ask named it; the model answered with the
    # very same JSON, so the loop stopped, and the fact was dropped, by name.
    assert [a.kind for a in meta.attempts] == ["grounding"] * 2
    errors = [a.error or "" for a in meta.attempts]
    assert "key_facts[1].evidence[0] = 'Mr. Pompeo met with leaders of the Afghan" in errors[0]
    assert errors[1] == "the same answer as before the re-ask"
    assert [(g.items, g.not_found) for g in meta.grounding] == [(4, 1)]
    assert any(w.startswith("key_facts[1] dropped") for w in meta.warnings)
    assert meta.usage.prompt_tokens == 1236 + 1687

    # What survived is in the article word for word, at these offsets of the file as
    # given (the model saw it cleaned), and no boilerplate is quoted or cited (the
    # earlier recording's first "evidence" was an image caption).
    summary = result.summary
    facts = [
        (e, s.start, s.end)
        for f in summary.key_facts
        for e, s in zip(f.evidence, f.evidence_spans, strict=True)
        if s
    ]
    assert facts == [
        (
            "The rocket barrage smashed into Kabul's center, killing at least eight "
            "civilians, injuring over two dozen.",
            792,  # offsets in the file as given (140 characters of boilerplate precede)
            898,
        )
    ]
    # The model's one "quote" began with narration, "Mr. Pompeo told the Afghan
    # negotiation team.", copied verbatim: grounding found the words, and rule A
    # (checks.py) dropped it, since it does not lie inside quotation marks.
    assert summary.source_quotes == []
    assert any(
        w.startswith("source_quotes[0] dropped, it is not inside quotation marks")
        and "Mr. Pompeo told the Afghan negotiation team." in w
        for w in meta.warnings
    )
    for words in [e for e, _, _ in facts]:
        assert "JavaScript" not in words and "share buttons" not in words


@pytest.mark.skipif(RECORDING, reason="replays the cassette that the sync test records")
@pytest.mark.cassette("kabul-1.5b")
async def test_sample_article_async_replays_the_same_calls(
    cassette: Any, recorded_endpoint: dict[str, Any], sample_text: str
) -> None:
    result = await asummarize(sample_text, **recorded_endpoint)
    assert_grounded(result, sample_text)
    assert len(result.meta.attempts) == len(cassette.data)


def _without_timings(result: SummaryResult) -> dict[str, Any]:
    data = result.model_dump(mode="json")
    meta = data["meta"]
    meta.pop("latency_s"), meta.pop("created_at")
    for attempt in meta["attempts"]:
        attempt.pop("latency_s")
    return data


@pytest.mark.skipif(RECORDING, reason="replays the cassette that the sync test records")
@pytest.mark.parametrize("name", ["kabul-1.5b", "kabul-chunked-1.5b"])
async def test_the_async_twin_gives_the_sync_result_on_the_same_recording(
    name: str, recorded_endpoint: dict[str, Any], sample_text: str
) -> None:
    options = {**recorded_endpoint, "cache": False}
    if "chunked" in name:
        options["context_tokens"] = CHUNKED_CONTEXT
    with recorder.use_cassette(f"{name}.yaml", allow_playback_repeats=True):
        synced = summarize(sample_text, **options)
        awaited = await asummarize(sample_text, **options)
    assert _without_timings(awaited) == _without_timings(synced)
    assert synced.meta.calls >= 2  # re-asks and (for the long one) parts and merge included


@pytest.mark.skipif(RECORDING, reason="replays the cassette that the sync test records")
@pytest.mark.cassette("kabul-1.5b")
def test_sample_article_through_the_cli(
    cassette: Any, recorded_endpoint: dict[str, Any], sample_text: str
) -> None:
    args = ["summarize", str(SAMPLE), "--format", "json"]
    args += ["--base-url", recorded_endpoint["base_url"], "--model", recorded_endpoint["model"]]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    result = SummaryResult.model_validate_json(out.stdout)
    assert_grounded(result, sample_text)


CHUNKED_CONTEXT = 3000
"""Small enough that the sample (about 1,200 tokens by the estimate) is read in 3 parts."""


@pytest.mark.cassette("kabul-chunked-1.5b")
def test_sample_article_in_parts(
    cassette: Any, recorded_endpoint: dict[str, Any], sample_text: str
) -> None:
    result = summarize(sample_text, context_tokens=CHUNKED_CONTEXT, **recorded_endpoint)
    assert_grounded(result, sample_text)  # against the whole article
    meta = result.meta
    assert meta.chunks == 3 and meta.chunking is not None
    assert meta.calls == len(meta.attempts) == len(cassette.data)
    assert meta.usage.total_tokens == sum(
        json.loads(response["body"]["string"])["usage"]["total_tokens"]
        for _, response in cassette.data
    )
    if RECORDING:
        return  # what follows is what the recorded model said; a new recording may differ

    # Three parts of the cleaned text, each after the first starting with the last
    # paragraph of the one before (the overlap), each read with re-asks of its own.
    chunking = meta.chunking
    assert [(c.start, c.end) for c in chunking.chunks] == [(0, 1983), (1749, 3549), (3282, 4998)]
    assert [c.calls for c in chunking.chunks] == [3, 3, 2]
    assert meta.calls == 3 + 3 + 2 + 2  # and two for the merge
    assert sum(c.usage.total_tokens or 0 for c in chunking.chunks) < meta.usage.total_tokens
    # Part 2 was never grounded: the model wrote "U. S." where the article has "U.S."
    # and reworded Mr. Pompeo's words into a quote; after 3 answers it is left out, by name.
    assert (
        "part 2/3 gave no grounded summary and is left out: "
        "no key fact could be grounded in the article"
    ) in meta.warnings
    assert (chunking.chunks[1].key_facts, chunking.chunks[1].key_facts_kept) == (0, 0)
    # The merge (merge@1) got the two grounded parts as JSON data, shortened to fit in
    # 3,000 tokens, and said so.
    merge_requests = [
        json.loads(r.body)["messages"]
        for r in cassette.requests
        if json.loads(r.body)["messages"][0]["content"].startswith("You merge")
    ]
    assert len(merge_requests) == 2
    assert "The article was read in 2 parts" in merge_requests[0][1]["content"]
    assert meta.warnings[0].startswith("the part summaries were shortened to fit the merge call")
    assert (chunking.merge_prompt.name, chunking.merged_by) == ("merge", "model")
    # Its second fact cited a part's statement as evidence; re-asked, it answered the same,
    # so that fact was dropped. Part 3 then had no fact in the merged answer, so its first
    # came back, with a warning: no part is silently lost. But that fact's evidence does
    # not say what it says (1 of its 12 content words: rule C), so it is dropped in turn.
    summary = result.summary
    assert summary.headline == "Rocket attack in Kabul, Taliban strikes again"
    assert [f.statement for f in summary.key_facts] == [
        "A rocket barrage smashed into Kabul's center, killing at least eight civilians, "
        "injuring over two dozen.",
    ]
    assert any(
        w.startswith("part 3/3: none of its 2 key fact(s) was in the merged") for w in meta.warnings
    )
    assert meta.warnings[-1].startswith("key_facts[1] dropped, its evidence does not say it")
    assert [c.key_facts_kept for c in chunking.chunks] == [1, 0, 1]
    # Quotes, grounded against the whole article. Of the merge's and the parts', only
    # Mr. Amiri's words lie inside quotation marks (rule A): the narration that the model
    # gave as quotes is dropped, each by name, and so is the part speaker it invented
    # ("Amirid Ahmad Amiri"); the article's own attribution names him instead.
    assert [(q.speaker, q.span.start, q.span.end) for q in summary.source_quotes if q.span] == [
        ("Farid Ahmad Amiri", 4245, 4262),
    ]
    dropped = [w for w in meta.warnings if "not inside quotation marks" in w]
    assert len(dropped) == 3
    assert [p.name for p in summary.parties] == [
        "Mike Pompeo",
        "Afghan government",
        "Taliban",
        "Qatar",
    ]


@pytest.mark.cassette("kabul-summarize2-1.5b")
def test_sample_article_with_summarize2(
    cassette: Any, recorded_endpoint: dict[str, Any], sample_text: str
) -> None:
    """summarize@2: the model cites sentence and quotation ids; the words are the article's."""
    result = summarize(sample_text, prompt="summarize@2", **recorded_endpoint)
    assert_grounded(result, sample_text)
    meta = result.meta
    assert (meta.prompt.name, meta.prompt.version) == ("summarize", 2)
    assert len(meta.attempts) == len(cassette.data)
    sent = json.loads(cassette.requests[0].body)
    shown = sent["messages"][1]["content"]
    assert "[1] " in shown and "[Q1]" in shown  # numbered sentences, marked quotations
    (tool,) = sent["tools"]
    ids = tool["function"]["parameters"]["$defs"]["CitedQuote"]["properties"]["id"]["enum"]
    assert ids == [q.id for q in find_passages(clean_text(sample_text).text).quotations]
    if RECORDING:
        return
    summary = result.summary
    # Every quote is the words inside quotation marks, with its speaker: Mr. Pompeo's
    # and Mr. Amiri's own words, no narration.
    passages = find_passages(sample_text)
    speakers = set()
    for quote in summary.source_quotes:
        assert quote.span is not None and quote.speaker is not None
        assert passages.inside_quotation(quote.span.start, quote.span.end) is not None
        speakers.add(quote.speaker.split()[-1])
    assert speakers <= {"Pompeo", "Amiri"} and len(summary.source_quotes) >= 2
    # Each fact's evidence is one sentence of the article, and says what the fact says.
    assert len(summary.key_facts) >= 4
    for fact in summary.key_facts:
        assert fact.sentence_ids is not None and len(fact.evidence) == 1
        assert support(fact.statement, fact.evidence).ok
    assert meta.calls == 1


class _Watcher:
    """Writes down the stages and how many partial answers it was shown."""

    def __init__(self) -> None:
        self.stages: list[str] = []
        self.partials = 0
        self.tokens = 0
        self.last: dict[str, Any] = {}

    def stage(self, text: str) -> None:
        self.stages.append(text)

    def numbered(self, sentences: Any, quotes: Any) -> None:
        pass

    def partial(self, answer: Any, tokens: int) -> None:
        self.partials += 1
        self.last, self.tokens = dict(answer), tokens


@pytest.mark.cassette("kabul-summarize2-stream-1.5b")
def test_sample_article_streamed_as_the_live_view_asks(
    cassette: Any, recorded_endpoint: dict[str, Any], sample_text: str
) -> None:
    """The same request, answered in one piece and then streamed (as a terminal's live
    view asks), one after the other on one real server: llama-cpp-python repeats the
    tool name in every chunk and sends no usage, and the checked summary is the same."""
    from summarizer.live import watching

    options = {**recorded_endpoint, "cache": False}  # a streamed answer is cached as any other
    whole = summarize(sample_text, prompt="summarize@2", **options)
    watcher = _Watcher()
    with watching(watcher):
        streamed = summarize(sample_text, prompt="summarize@2", **options)
    assert_grounded(streamed, sample_text)
    plain, sent = (json.loads(request.body) for request in cassette.requests)
    assert "stream" not in plain and sent["stream"] is True
    assert watcher.stages[0] == f"asking {recorded_endpoint['model']}"
    assert watcher.partials > 100  # one a token
    assert watcher.last["headline"] == streamed.summary.headline
    if RECORDING:
        return
    assert streamed.summary.model_dump() == whole.summary.model_dump()
    assert streamed.meta.usage.prompt_tokens is None  # this server sends none in a stream
    assert whole.meta.usage.completion_tokens == watcher.tokens  # a chunk is a token
