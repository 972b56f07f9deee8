"""Articles longer than the context window: summarize the parts, then merge them.

1. :func:`plan_chunks` decides, from the token estimate (:mod:`summarizer.chunking`),
   whether the article fits in ``context_tokens`` next to the prompt, the tool
   schema and ``max_tokens`` of answer. If it does, nothing here runs: one call, as
   for any article.
2. Otherwise each chunk (paragraphs, with a little overlap) is summarized with the
   same prompt as a whole article, ``chunk_concurrency`` at a time, by the same job
   (``job.py``): re-asks, checks, drops. This module decides and assembles; it
   makes no call itself.
3. ``merge@N`` gets the chunk summaries as template *data* (JSON), never as template
   source, and answers one :class:`~summarizer.schema.ArticleSummary`, grounded
   against the **whole** article: its quotes and evidence must be the parts' words.
4. No part is silently lost: a part none of whose key facts made it into the merged
   answer gets its first (strongest) fact added back, with a warning, or a warning
   alone when the summary is full. Parties are deduplicated by name and aliases
   ("Mr. Pompeo", "Pompeo" and "Mike Pompeo" are one party, listed under the
   fullest name). If the merge answer cannot be used (no grounded fact, or cut
   off), the parts are merged by rule, and ``meta.chunking.merged_by`` says so.

``meta.calls``, ``meta.attempts`` and ``meta.usage`` cover every call, each
chunk's and the merge's; an unknown usage makes the total unknown.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from typing import Literal

from summarizer.article import Article
from summarizer.chunking import ESTIMATE_METHOD, Chunk, estimate_tokens, split_text
from summarizer.errors import ConfigError, ValidationFailedError
from summarizer.prompts import Prompt, default_prompts_dir, load_prompt
from summarizer.schema import (
    ArticleSummary,
    Attempt,
    ChunkInfo,
    Chunking,
    GroundingCheck,
    KeyFact,
    Party,
    PromptInfo,
    SourceQuote,
    Span,
    Usage,
)
from summarizer.settings import Settings
from summarizer.words import name_words, same_name

__all__ = [
    "MERGE_PROMPT",
    "Assembled",
    "Part",
    "Plan",
    "assemble",
    "dedupe_parties",
    "in_article",
    "merge_messages",
    "no_part_error",
    "overhead_tokens",
    "plan_chunks",
    "request_tokens",
    "shift",
]

MERGE_PROMPT = "merge"
MIN_CHUNK_TOKENS = 100
"""A chunk budget below this is refused: the parts would say next to nothing."""
_FRAMING_TOKENS = 32  # roles, tool-call wrapping: a few tokens per message


@dataclass(frozen=True)
class Plan:
    """How a long article is split; made before any call (it goes into the cache key)."""

    context_tokens: int
    article_tokens: int
    budget: int
    chunks: list[Chunk]
    merge_prompt: Prompt


def request_tokens(messages: list[dict[str, str]]) -> int:
    """Estimated tokens of a request: its messages, the tool schema and some framing."""
    return sum(estimate_tokens(m["content"]) for m in messages) + _schema_tokens() + _FRAMING_TOKENS


@functools.cache
def _schema_tokens() -> int:
    """The tool schema's estimate, made once: 3-4 ms a call otherwise (benchmarks/README.md)."""
    return estimate_tokens(json.dumps(ArticleSummary.model_json_schema()))


@functools.lru_cache(maxsize=32)
def overhead_tokens(prompt: Prompt, title: str | None) -> int:
    """Estimated tokens of everything but the article: messages and the tool schema.

    The same for every article of one prompt and title, so kept (a prompt's text is in
    its hash); every ``summarize()`` asks for it."""
    return request_tokens(prompt.render(article="", title=title))


def _merge_prompt(settings: Settings) -> Prompt:
    folder = settings.prompts_dir
    if folder is not None and not (folder / MERGE_PROMPT).is_dir():
        folder = None  # a folder of one's own summarize prompts: the packaged merge prompt
    return load_prompt(MERGE_PROMPT, prompts_dir=folder or default_prompts_dir())


def plan_chunks(
    article: Article,
    prompt: Prompt,
    title: str | None,
    settings: Settings,
    *,
    sent: str | None = None,
) -> Plan | None:
    """The chunks of ``article``, or None when it fits in one call.

    ``sent``: the article as the prompt shows it, when that is not its text
    (summarize@2 adds sentence ids): it is what must fit.
    """
    context = settings.resolved_context_tokens
    overhead = overhead_tokens(prompt, title)
    budget = context - overhead - settings.max_tokens
    tokens = estimate_tokens(sent if sent is not None else article.text)
    if tokens <= budget:
        return None
    if budget < MIN_CHUNK_TOKENS:
        raise ConfigError(
            f"context_tokens={context:,} leaves {max(budget, 0):,} tokens for the article after "
            f"the prompt (~{overhead:,}) and the answer (max_tokens={settings.max_tokens:,}); "
            f"the article needs ~{tokens:,}: raise --context-tokens or lower --max-tokens"
        )
    if sent is not None:  # split the text itself, at the budget its share of ``sent`` allows
        budget = max(MIN_CHUNK_TOKENS, budget * estimate_tokens(article.text) // max(tokens, 1))
    chunks = split_text(article.text, budget)
    return Plan(context, tokens, budget, chunks, _merge_prompt(settings))


# --- the parts -------------------------------------------------------------------------


@dataclass
class Part:
    """One chunk and, once its answer is checked, its summary or why it has none.

    ``summary`` is in the offsets of the whole (cleaned) article; ``notes`` are its
    warnings, not yet logged: the job logs every warning once, at the end.
    """

    number: int
    chunk: Chunk
    summary: ArticleSummary | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    checks: list[GroundingCheck] = dataclasses.field(default_factory=list)
    error: ValidationFailedError | None = None


def no_part_error(parts: list[Part], source: str) -> ValidationFailedError:
    attempts = [a for p in parts for a in p.attempts]
    return ValidationFailedError(
        f"no part of the {len(parts)} gave a grounded summary",
        article_id=source,
        attempts=_renumber(attempts),
        usage=Usage.total([a.usage for a in attempts]),
    )


# --- the merge -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Detail:
    """How much of each part's summary the merge prompt shows."""

    facts: int
    evidence: int
    quotes: int
    questions: int
    parties: int
    roles: bool


_DETAIL = (  # the first that fits in context_tokens is used; the last is the minimum
    _Detail(facts=8, evidence=3, quotes=8, questions=5, parties=12, roles=True),
    _Detail(facts=3, evidence=1, quotes=2, questions=1, parties=6, roles=True),
    _Detail(facts=2, evidence=1, quotes=1, questions=0, parties=4, roles=False),
    _Detail(facts=1, evidence=1, quotes=0, questions=0, parties=3, roles=False),
)


def _part_data(summary: ArticleSummary, detail: _Detail) -> str:
    """A part's summary as the merge prompt shows it: JSON, the first items of each list."""
    data = {
        "headline": summary.headline,
        "key_facts": [
            {"statement": f.statement, "evidence": f.evidence[: detail.evidence]}
            for f in summary.key_facts[: detail.facts]
        ],
        "parties": [
            {"name": p.name, "kind": p.kind, **({"role": p.role} if detail.roles else {})}
            for p in summary.parties[: detail.parties]
        ],
        "open_questions": summary.open_questions[: detail.questions],
        "source_quotes": [
            {"text": q.text, "speaker": q.speaker} for q in summary.source_quotes[: detail.quotes]
        ],
    }
    return json.dumps(data, ensure_ascii=False)


def merge_messages(
    plan: Plan, parts: list[Part], title: str | None, max_tokens: int
) -> tuple[list[dict[str, str]] | None, int]:
    """The merge call's messages and the detail level that fit in ``context_tokens``
    (0: all of it); None when even the least does not fit."""
    done = [p.summary for p in parts if p.summary is not None]
    for level, detail in enumerate(_DETAIL):
        data = [_part_data(summary, detail) for summary in done]
        messages = plan.merge_prompt.render(parts=data, title=title)
        if request_tokens(messages) + max_tokens <= plan.context_tokens:
            return messages, level
    return None, len(_DETAIL)


def shift(span: Span | None, by: int) -> Span | None:
    """``span`` moved ``by`` characters: from a chunk's text to the whole article's."""
    if span is None or by == 0:
        return span
    fragments = [(a + by, b + by) for a, b in span.fragments] if span.fragments else None
    return Span(start=span.start + by, end=span.end + by, fragments=fragments)


def in_article(summary: ArticleSummary, by: int) -> ArticleSummary:
    """A part's summary with its offsets moved from the chunk to the whole article."""
    for fact in summary.key_facts:
        fact.evidence_spans = [shift(s, by) for s in fact.evidence_spans]
    for quote in summary.source_quotes:
        quote.span = shift(quote.span, by)
    return summary


def _overlaps(a: Span | None, b: Span | None) -> bool:
    return a is not None and b is not None and a.start < b.end and b.start < a.end


def _by_rule(parts: list[ArticleSummary]) -> ArticleSummary:
    """Facts in turn from each part, parties and quotes deduplicated: no model needed."""
    facts: list[KeyFact] = []
    depth = max(len(p.key_facts) for p in parts)
    for i in range(depth):
        for part in parts:
            if i < len(part.key_facts) and len(facts) < 6:
                facts.append(part.key_facts[i])
    quotes: list[SourceQuote] = []
    for part in parts:
        for quote in part.source_quotes:
            if len(quotes) < 5 and not any(_overlaps(quote.span, q.span) for q in quotes):
                quotes.append(quote)
    questions = list(dict.fromkeys(q for p in parts for q in p.open_questions))[:3]
    return ArticleSummary.model_construct(
        headline=parts[0].headline,
        key_facts=facts,
        parties=dedupe_parties([party for p in parts for party in p.parties])[:12],
        open_questions=questions,
        source_quotes=quotes,
    )


@dataclass
class Assembled:
    """The one summary of a long article, and the record of how it was made."""

    summary: ArticleSummary
    notes: list[str]
    attempts: list[Attempt]
    checks: list[GroundingCheck]
    chunking: Chunking


def assemble(
    plan: Plan,
    parts: list[Part],
    merged: ArticleSummary | Exception | None,
    merge_attempts: list[Attempt],
    merge_checks: list[GroundingCheck],
    merge_notes: list[str],
    level: int = 0,
) -> Assembled:
    """Parts and merge answer into one summary; see the module docstring for the rules.

    ``merged`` is the checked merge answer, the error that kept it from being
    used, or None when no merge call could be made (it did not fit).
    """
    total = len(parts)
    notes: list[str] = []
    if merged is not None and level:
        detail = _DETAIL[level]
        notes.append(
            f"the part summaries were shortened to fit the merge call in context_tokens="
            f"{plan.context_tokens:,}: the first {detail.facts} key fact(s) and "
            f"{detail.quotes} quote(s) of each"
        )
    for part in parts:
        label = f"part {part.number}/{total}"
        if part.error is not None:
            notes.append(f"{label} gave no grounded summary and is left out: {part.error}")
        else:
            notes.extend(f"{label}: {w}" for w in part.notes)
    done = {p.number: p.summary for p in parts if p.summary is not None}
    merged_by: Literal["model", "rule"] = "model"
    if isinstance(merged, ArticleSummary):
        summary = merged
        notes.extend(f"merge: {w}" for w in merge_notes)
    else:
        why = (
            f"the merge answer could not be used ({merged})"
            if merged is not None
            else f"the part summaries do not fit one merge call in context_tokens="
            f"{plan.context_tokens:,}"
        )
        notes.append(f"{why}; merged by rule")
        summary, merged_by = _by_rule(list(done.values())), "rule"
    summary.parties = dedupe_parties(summary.parties)
    _add_part_quotes(summary, list(done.values()))

    infos = []
    for part in parts:
        own = done.get(part.number)
        facts = own.key_facts if own is not None else []
        kept = [
            f
            for f in facts
            if any(
                _overlaps(s, t)
                for s in f.evidence_spans
                for m in summary.key_facts
                for t in m.evidence_spans
            )
        ]
        if facts and not kept:
            if len(summary.key_facts) < 8:
                summary.key_facts.append(facts[0])
                kept = [facts[0]]
                notes.append(
                    f"part {part.number}/{total}: none of its {len(facts)} key fact(s) was in "
                    f"the merged answer; added its first: {facts[0].statement!r}"
                )
            else:
                notes.append(
                    f"part {part.number}/{total}: none of its {len(facts)} key fact(s) is in "
                    "the merged answer, which is full (8 facts)"
                )
        infos.append(
            ChunkInfo(
                start=part.chunk.start,
                end=part.chunk.end,
                tokens_estimated=part.chunk.tokens,
                calls=len(part.attempts),
                usage=Usage.total([a.usage for a in part.attempts]),
                key_facts=len(facts),
                key_facts_kept=len(kept),
            )
        )
    prompt = plan.merge_prompt
    chunking = Chunking(
        context_tokens=plan.context_tokens,
        article_tokens_estimated=plan.article_tokens,
        chunk_budget_tokens=plan.budget,
        estimate=ESTIMATE_METHOD,
        chunks=infos,
        merge_prompt=PromptInfo(name=prompt.name, version=prompt.version, sha256=prompt.sha256),
        merged_by=merged_by,
    )
    return Assembled(
        summary=summary,
        notes=notes,
        attempts=_renumber([a for p in parts for a in p.attempts] + merge_attempts),
        checks=[c for p in parts for c in p.checks] + merge_checks,
        chunking=chunking,
    )


def _add_part_quotes(summary: ArticleSummary, parts: list[ArticleSummary]) -> None:
    """Quotes are the article's own words: the parts' quotes that the merge left out
    are added (up to 5 in all, none twice), so a quote never depends on fitting in."""
    for part in parts:
        for quote in part.source_quotes:
            if len(summary.source_quotes) >= 5:
                return
            if not any(_overlaps(quote.span, q.span) for q in summary.source_quotes):
                summary.source_quotes.append(quote)


def _renumber(attempts: list[Attempt]) -> list[Attempt]:
    return [a.model_copy(update={"number": n}) for n, a in enumerate(attempts, start=1)]


# --- parties ---------------------------------------------------------------------------


def _same_party(a: Party, b: Party) -> bool:
    """One party under two names (``words.same_name``; people by name words)."""
    return same_name(a.name, b.name, person=a.kind == b.kind == "person")


def dedupe_parties(parties: list[Party]) -> list[Party]:
    """Each party once, under its fullest name; the other names become ``aliases``.

    The fullest name has the most name words (titles such as "Mr." or "Secretary of
    State" not counted), and of those the shortest: "Mike Pompeo", not "Secretary of
    State Mike Pompeo". Names that differ only in case or spacing are not aliases.
    """
    merged: list[Party] = []
    for party in parties:
        for i, known in enumerate(merged):
            if _same_party(known, party):
                names = [known.name, *known.aliases, party.name, *party.aliases]
                # Most name words, then the shortest (no titles); the first on a tie.
                person = party.kind == "person"
                fullest = max(names, key=lambda n: (len(name_words(n, person)), -len(n)))
                aliases = list(dict.fromkeys(n for n in names if _plain(n) != _plain(fullest)))
                keep = known if fullest in (known.name, *known.aliases) else party
                merged[i] = keep.model_copy(update={"name": fullest, "aliases": aliases})
                break
        else:
            merged.append(party.model_copy())
    return merged


def _plain(name: str) -> str:
    return " ".join(name.casefold().split())
