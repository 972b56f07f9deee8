"""Articles longer than the context: parts summarized at a bound, then one merged summary.

The fake server answers each part from the words of that part, and the merge from
what it was given; its answers are hand-written (tests/fake_openai.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from summarizer import ConfigError, SummaryResult, asummarize, summarize
from summarizer.longform import dedupe_parties
from summarizer.schema import Party
from summarizer.settings import load_settings
from tests.fake_openai import FakeOpenAI, tool_call_reply
from tests.helpers import CONTEXT, KEY, MAX_TOKENS, MERGED, PART_FACTS, answer_parts, is_merge
from tests.helpers import LONG_ARTICLE as ARTICLE

SECRET = "fake-key-for-tests-longform-0123456789"


def run(fake: FakeOpenAI, **kw: Any) -> SummaryResult:
    options: dict[str, Any] = {"context_tokens": CONTEXT, "max_tokens": MAX_TOKENS, **kw}
    return summarize(ARTICLE, base_url=fake.base_url, api_key=SECRET, model="m", **options)


def test_a_long_article_is_read_in_parts_and_merged_into_one_grounded_summary(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.responder = answer_parts()
    result = run(fake_openai)
    summary, meta = result.summary, result.meta
    assert (meta.chunks, meta.calls, len(meta.attempts)) == (3, 4, 4)
    assert meta.usage.total_tokens == 4 * 150
    assert summary.headline == MERGED["headline"]  # one headline for the whole
    # Quotes and evidence are grounded against the whole article.
    for fact in summary.key_facts:
        for passage, span in zip(fact.evidence, fact.evidence_spans, strict=True):
            assert span is not None and ARTICLE[span.start : span.end] == passage
    quote = summary.source_quotes[0]
    assert quote.span is not None
    assert ARTICLE[quote.span.start : quote.span.end] == quote.text == KEY[2][1][0]  # type: ignore[index]
    # Parties: one per person, under the fullest name, other names kept as aliases.
    assert [(p.name, p.aliases) for p in summary.parties] == [
        ("Mike Pompeo", ["Pompeo"]),
        ("Islamic State", []),
    ]
    chunking = meta.chunking
    assert chunking is not None and chunking.merged_by == "model"
    assert (chunking.merge_prompt.name, chunking.merge_prompt.version) == ("merge", 1)
    assert [(c.calls, c.key_facts) for c in chunking.chunks] == [(1, 2), (1, 2), (1, 2)]
    texts = [ARTICLE[c.start : c.end] for c in chunking.chunks]
    assert [KEY[n][0] in text for n in (1, 2, 3) for text in texts] == [
        *(True, False, False),
        *(False, True, False),
        *(False, False, True),
    ]
    # A little overlap: each part after the first starts with the last paragraph before it.
    assert texts[1].startswith("Families in Shar-e-Naw queued")
    assert texts[2].startswith("Families in Wazir Akbar Khan queued")


def test_no_part_is_silently_lost(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = answer_parts()
    result = run(fake_openai)
    added = result.summary.key_facts[-1]
    assert added.statement == PART_FACTS[3]  # the part's first, strongest fact
    span = added.evidence_spans[0]
    assert span is not None and ARTICLE[span.start : span.end] == KEY[3][0]
    assert any(w.startswith("part 3/3: none of its 2 key fact(s)") for w in result.meta.warnings)
    assert result.meta.chunking is not None
    # Each part's first fact is in the summary; "Shops closed" of each part is not.
    assert [c.key_facts_kept for c in result.meta.chunking.chunks] == [1, 1, 1]


def test_the_merge_gets_the_part_summaries_as_data(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = answer_parts()
    run(fake_openai)
    merge = [r for r in fake_openai.requests if is_merge(r)]
    assert len(merge) == 1
    user = merge[0]["body"]["messages"][1]["content"]
    assert "The article was read in 3 parts" in user
    shown = [json.loads(line) for line in user.splitlines() if line.startswith("{")]
    assert [part["headline"] for part in shown] == [f"Part {n} headline" for n in (1, 2, 3)]
    parts = [r for r in fake_openai.requests if not is_merge(r)]
    assert any("{{ 7*7 }}" in r["body"]["messages"][1]["content"] for r in parts)


def test_an_unusable_merge_answer_falls_back_to_merging_by_rule(fake_openai: FakeOpenAI) -> None:
    invented = {**MERGED, "key_facts": [{"statement": "x", "evidence": ["Not in the article."]}]}
    fake_openai.responder = answer_parts(merge=tool_call_reply(invented))
    result = run(fake_openai, max_attempts=1)
    assert result.meta.chunking is not None and result.meta.chunking.merged_by == "rule"
    assert result.summary.headline == "Part 1 headline"
    statements = [f.statement for f in result.summary.key_facts]
    assert statements[:3] == [PART_FACTS[1], PART_FACTS[2], PART_FACTS[3]]
    assert any("merged by rule" in w for w in result.meta.warnings)
    assert result.meta.calls == 4


def test_an_unknown_usage_makes_the_total_unknown(fake_openai: FakeOpenAI) -> None:
    no_usage = tool_call_reply(MERGED)
    del no_usage.body["usage"]
    fake_openai.responder = answer_parts(merge=no_usage)
    meta = run(fake_openai).meta
    assert meta.usage.total_tokens is None
    assert meta.chunking is not None
    assert [c.usage.total_tokens for c in meta.chunking.chunks] == [150, 150, 150]


@pytest.mark.parametrize("use_async", [False, True])
async def test_parts_run_at_most_chunk_concurrency_at_once(
    fake_openai: FakeOpenAI, use_async: bool
) -> None:
    arrivals: list[float] = []
    fake_openai.responder = answer_parts(arrivals=arrivals, delay=0.3)
    options: dict[str, Any] = {"context_tokens": CONTEXT, "max_tokens": MAX_TOKENS}
    options |= {"chunk_concurrency": 2, "base_url": fake_openai.base_url, "api_key": SECRET}
    if use_async:
        result = await asummarize(ARTICLE, model="m", **options)
    else:
        result = summarize(ARTICLE, model="m", **options)
    assert result.meta.chunks == 3
    _first, second, third = (t - arrivals[0] for t in arrivals[:3])
    assert second < 0.2  # two parts at once...
    assert third >= 0.25  # ...and the third only when one of them is done


def test_a_context_too_small_for_any_article_is_refused_before_a_call(
    fake_openai: FakeOpenAI,
) -> None:
    with pytest.raises(ConfigError, match=r"context_tokens=1,000 leaves 0 tokens for the article"):
        run(fake_openai, context_tokens=1000)
    assert fake_openai.calls == 0


def test_an_article_that_fits_is_one_call_as_ever(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = answer_parts()
    result = run(fake_openai, context_tokens=None)  # gpt-4o-mini's window by default: 128,000
    assert (result.meta.chunks, result.meta.calls, result.meta.chunking) == (1, 1, None)


def test_a_cached_long_article_costs_no_call_but_another_context_does(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.responder = answer_parts()
    run(fake_openai)
    assert run(fake_openai).meta.cached
    assert not run(fake_openai, context_tokens=CONTEXT + 200).meta.cached


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Mike Pompeo", "Mr. Pompeo", "Pompeo"], [("Mike Pompeo", ["Mr. Pompeo", "Pompeo"])]),
        (
            ["Pompeo", "Secretary of State Mike Pompeo", "Mike Pompeo"],
            [("Mike Pompeo", ["Secretary of State Mike Pompeo", "Pompeo"])],
        ),
        (["Mike Pompeo", "Mike Pence"], [("Mike Pompeo", []), ("Mike Pence", [])]),
        (["Fawzia Koofi", "fawzia  koofi"], [("Fawzia Koofi", [])]),
    ],
)
def test_people_are_deduplicated_by_name_and_aliases(
    names: list[str], expected: list[tuple[str, list[str]]]
) -> None:
    parties = [Party(name=n, kind="person", role="r") for n in names]
    assert [(p.name, p.aliases) for p in dedupe_parties(parties)] == expected


def test_organisations_match_on_the_whole_name_only() -> None:
    parties = [
        Party(name="Islamic State", kind="group", role="r"),
        Party(name="the Islamic State", kind="group", role="r"),
        Party(name="State Department", kind="government", role="r"),
    ]
    assert [(p.name, p.aliases) for p in dedupe_parties(parties)] == [
        ("Islamic State", ["the Islamic State"]),
        ("State Department", []),
    ]


@pytest.mark.parametrize(
    ("options", "window"),
    [
        ({"model": "gpt-4o-mini", "api_key": SECRET}, 128_000),
        ({"model": "gpt-4o-mini-2024-07-18", "api_key": SECRET}, 128_000),
        ({"model": "gpt-4.1-nano", "api_key": SECRET}, 1_047_576),
        ({"model": "my-own-model", "base_url": "http://127.0.0.1:1/v1"}, 8192),
        ({}, 8192),  # no endpoint, no key: the embedded local model, served with n_ctx 8192
        ({"model": "gpt-4o", "api_key": SECRET, "context_tokens": 4096}, 4096),
    ],
)
def test_the_context_window_by_model_unless_set(options: dict[str, Any], window: int) -> None:
    assert load_settings(**options).resolved_context_tokens == window


def test_results_saved_before_calls_existed_still_load(fake_openai: FakeOpenAI) -> None:
    fake_openai.responder = answer_parts()
    saved = run(fake_openai, context_tokens=None).model_dump(mode="json")
    for name in ("calls", "chunks", "chunking", "cleaning", "source"):
        del saved["meta"][name]
    meta = SummaryResult.model_validate(saved).meta
    assert (meta.calls, meta.chunks, meta.chunking, meta.cleaning) == (1, 1, None, None)


def test_a_long_article_under_summarize2_cites_whole_article_ids_in_each_part(
    fake_openai: FakeOpenAI,
) -> None:
    """Each part shows its own sentences, numbered as in the whole article; the answer's
    ids are narrowed to them; the merge (merge@1) then works as for copied passages."""

    seen: list[list[int]] = []

    def respond(request: dict[str, Any]) -> Any:
        if is_merge(request):
            return tool_call_reply(MERGED)
        ids = [
            int(n)
            for n in re.findall(r"^\[(\d+)\] ", request["body"]["messages"][1]["content"], re.M)
        ]
        seen.append(ids)
        schema = request["body"]["tools"][0]["function"]["parameters"]
        allowed = schema["$defs"]["CitedFact"]["properties"]["sentences"]["items"]["enum"]
        assert set(allowed) <= set(ids)
        cite = [{"sentences": [n]} for n in allowed[-3:]]
        return tool_call_reply(
            {
                "headline": "Part",
                "key_facts": cite,
                "quotes": [],
                "parties": [],
                "open_questions": [],
            }
        )

    fake_openai.responder = respond
    result = run(fake_openai, prompt="summarize@2", context_tokens=CONTEXT + 60)
    assert result.meta.chunks >= 3 and len(seen) == result.meta.chunks
    firsts = sorted(ids[0] for ids in seen)  # parts run two at a time: any order
    assert firsts[0] == 1 and len(set(firsts)) == len(firsts)  # numbered as in the whole
    for fact in result.summary.key_facts:
        for passage, span in zip(fact.evidence, fact.evidence_spans, strict=True):
            assert span is not None and ARTICLE[span.start : span.end] == passage
