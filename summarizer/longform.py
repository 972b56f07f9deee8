"""Articles longer than the context window: summarize the parts, then merge them.

1. :func:`plan_chunks` decides, from the token estimate (:mod:`summarizer.chunking`),
   whether the article fits in ``context_tokens`` next to the prompt, the tool
   schema and ``max_tokens`` of answer. If it does, nothing here runs: one call, as
   for any article.
2. Otherwise each chunk (paragraphs, with a little overlap) is summarized with the
   same prompt as a whole article, ``chunk_concurrency`` at a time, through the same
   ``_Job`` machinery: re-asks, grounding against the chunk's own text, drops.
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

import asyncio
import dataclasses
import functools
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from summarizer.article import Article
from summarizer.chunking import ESTIMATE_METHOD, Chunk, estimate_tokens, split_text
from summarizer.errors import ConfigError, OutputTruncatedError, ValidationFailedError
from summarizer.prompts import Prompt, default_prompts_dir, load_prompt
from summarizer.schema import (
    ArticleSummary,
    Attempt,
    ChunkInfo,
    Chunking,
    GroundingCheck,
    GroundingPolicy,
    KeyFact,
    Party,
    PromptInfo,
    SourceQuote,
    Span,
    SummaryResult,
    Usage,
)
from summarizer.settings import Settings

if TYPE_CHECKING:
    from summarizer.llm import LLM, AsyncLLM
    from summarizer.pipeline import _Job

__all__ = [
    "MERGE_PROMPT",
    "Plan",
    "arun_chunked",
    "dedupe_parties",
    "overhead_tokens",
    "plan_chunks",
    "request_tokens",
    "run_chunked",
]

log = logging.getLogger("summarizer")

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
    article: Article, prompt: Prompt, title: str | None, settings: Settings
) -> Plan | None:
    """The chunks of ``article``, or None when it fits in one call."""
    context = settings.resolved_context_tokens
    overhead = overhead_tokens(prompt, title)
    budget = context - overhead - settings.max_tokens
    tokens = estimate_tokens(article.text)
    if tokens <= budget:
        return None
    if budget < MIN_CHUNK_TOKENS:
        raise ConfigError(
            f"context_tokens={context:,} leaves {max(budget, 0):,} tokens for the article after "
            f"the prompt (~{overhead:,}) and the answer (max_tokens={settings.max_tokens:,}); "
            f"the article needs ~{tokens:,}: raise --context-tokens or lower --max-tokens"
        )
    chunks = split_text(article.text, budget)
    return Plan(context, tokens, budget, chunks, _merge_prompt(settings))


# --- the parts -------------------------------------------------------------------------


@dataclass
class _Part:
    """One chunk's job and, once run, its result or why it has none."""

    number: int
    chunk: Chunk
    job: _Job
    result: SummaryResult | None = None
    error: ValidationFailedError | None = None

    @property
    def attempts(self) -> list[Attempt]:
        if self.result is not None:
            return self.result.meta.attempts
        return self.error.attempts if self.error is not None else []


def _parts(job: _Job) -> list[_Part]:
    from summarizer.pipeline import _Job

    assert job.plan is not None
    total = len(job.plan.chunks)
    title = job.title
    parts = []
    for number, chunk in enumerate(job.plan.chunks, start=1):
        text = job.article.text[chunk.start : chunk.end]
        article = Article(text=text, source=f"{job.article.source} [part {number}/{total}]")
        messages = job.prompt.render(article=text, title=title)
        part_job = _Job(
            job.settings,
            article,
            job.prompt,
            messages,
            GroundingPolicy(text),
            job.started,
            key="",
            title=title,
        )
        parts.append(_Part(number, chunk, part_job))
    return parts


def _settle(part: _Part, outcome: SummaryResult | BaseException) -> None:
    """Keep a part's result; a part with no grounded fact is a warning, anything else raises."""
    if isinstance(outcome, SummaryResult):
        part.result = outcome
    elif isinstance(outcome, ValidationFailedError) and part.job.settings.on_ungrounded == "drop":
        part.error = outcome
    else:
        raise outcome


def run_chunked(job: _Job, llm: LLM) -> SummaryResult:
    """Summarize the chunks (``chunk_concurrency`` threads), then merge; see the module doc."""
    parts = _parts(job)

    def one(part: _Part) -> SummaryResult | BaseException:
        try:
            return part.job.run(llm)
        except ValidationFailedError as error:
            return error

    with ThreadPoolExecutor(max_workers=job.settings.chunk_concurrency) as pool:
        outcomes = list(pool.map(one, parts))
    for part, outcome in zip(parts, outcomes, strict=True):
        _settle(part, outcome)
    merge, level = _merge_job(job, parts)
    merged: SummaryResult | Exception | None = None
    if merge is not None:
        try:
            merged = merge.run(llm)
        except (ValidationFailedError, OutputTruncatedError) as error:
            merged = error
    return _assemble(job, parts, merge, merged, level)


async def arun_chunked(job: _Job, llm: AsyncLLM) -> SummaryResult:
    """The asyncio twin of :func:`run_chunked`: ``chunk_concurrency`` tasks at a time."""
    parts = _parts(job)
    gate = asyncio.Semaphore(job.settings.chunk_concurrency)

    async def one(part: _Part) -> None:
        async with gate:
            try:
                outcome: SummaryResult | BaseException = await part.job.arun(llm)
            except ValidationFailedError as error:
                outcome = error
        _settle(part, outcome)

    try:
        async with asyncio.TaskGroup() as group:  # one failure cancels the other parts
            for part in parts:
                group.create_task(one(part))
    except BaseExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    merge, level = _merge_job(job, parts)
    merged: SummaryResult | Exception | None = None
    if merge is not None:
        try:
            merged = await merge.arun(llm)
        except (ValidationFailedError, OutputTruncatedError) as error:
            merged = error
    return _assemble(job, parts, merge, merged, level)


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


def _merge_job(job: _Job, parts: list[_Part]) -> tuple[_Job | None, int]:
    """The merge call, grounded against the whole article, and the detail level that fit
    in ``context_tokens`` (0: all of it); None when even the least does not fit."""
    from summarizer.pipeline import _Job

    assert job.plan is not None
    done = [p.result.summary for p in parts if p.result is not None]
    if not done:
        raise ValidationFailedError(
            f"no part of the {len(parts)} gave a grounded summary",
            article_id=job.article.source,
            attempts=_renumber([a for p in parts for a in p.attempts]),
            usage=Usage.total([a.usage for p in parts for a in p.attempts]),
        )
    prompt = job.plan.merge_prompt
    for level, detail in enumerate(_DETAIL):
        data = [_part_data(summary, detail) for summary in done]
        messages = prompt.render(parts=data, title=job.title)
        if request_tokens(messages) + job.settings.max_tokens <= job.plan.context_tokens:
            policy = GroundingPolicy(job.article.text)
            # Offsets stay in the cleaned text until the whole result is finished.
            seen = dataclasses.replace(job.article, input_text=None, removed=())
            merge = _Job(job.settings, seen, prompt, messages, policy, job.started, "", job.title)
            return merge, level
    return None, len(_DETAIL)


def _shift(span: Span | None, by: int) -> Span | None:
    if span is None:
        return None
    fragments = [(a + by, b + by) for a, b in span.fragments] if span.fragments else None
    return Span(start=span.start + by, end=span.end + by, fragments=fragments)


def _in_article(part: _Part) -> ArticleSummary:
    """A part's summary with its offsets moved from the chunk to the whole article."""
    assert part.result is not None
    summary = part.result.summary.model_copy(deep=True)
    for fact in summary.key_facts:
        fact.evidence_spans = [_shift(s, part.chunk.start) for s in fact.evidence_spans]
    for quote in summary.source_quotes:
        quote.span = _shift(quote.span, part.chunk.start)
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


def _assemble(
    job: _Job,
    parts: list[_Part],
    merge: _Job | None,
    merged: SummaryResult | Exception | None,
    level: int = 0,
) -> SummaryResult:
    assert job.plan is not None
    total = len(parts)
    notes: list[str] = []
    if merge is not None and level:
        detail = _DETAIL[level]
        notes.append(
            f"the part summaries were shortened to fit the merge call in context_tokens="
            f"{job.plan.context_tokens:,}: the first {detail.facts} key fact(s) and "
            f"{detail.quotes} quote(s) of each"
        )
    for part in parts:
        label = f"part {part.number}/{total}"
        if part.error is not None:
            notes.append(f"{label} gave no grounded summary and is left out: {part.error}")
        elif part.result is not None:
            notes.extend(f"{label}: {w}" for w in part.result.meta.warnings)
    shifted = {p.number: _in_article(p) for p in parts if p.result is not None}
    merged_by: Literal["model", "rule"] = "model"
    if isinstance(merged, SummaryResult):
        summary = merged.summary
        notes.extend(f"merge: {w}" for w in merged.meta.warnings)
    else:
        why = (
            f"the merge answer could not be used ({merged})"
            if merged is not None
            else f"the part summaries do not fit one merge call in context_tokens="
            f"{job.plan.context_tokens:,}"
        )
        notes.append(f"{why}; merged by rule")
        summary, merged_by = _by_rule(list(shifted.values())), "rule"
    summary.parties = dedupe_parties(summary.parties)
    _add_part_quotes(summary, list(shifted.values()))

    infos = []
    for part in parts:
        own = shifted.get(part.number)
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
        attempts = part.attempts
        infos.append(
            ChunkInfo(
                start=part.chunk.start,
                end=part.chunk.end,
                tokens_estimated=part.chunk.tokens,
                calls=len(attempts),
                usage=Usage.total([a.usage for a in attempts]),
                key_facts=len(facts),
                key_facts_kept=len(kept),
            )
        )

    merge_attempts: list[Attempt] = []
    if isinstance(merged, SummaryResult):
        merge_attempts = merged.meta.attempts
    elif isinstance(merged, (ValidationFailedError, OutputTruncatedError)):
        merge_attempts = merged.attempts
    attempts = _renumber([a for p in parts for a in p.attempts] + merge_attempts)
    result = job.finish(summary, attempts, notes)
    checks: list[GroundingCheck] = [
        c for p in parts if p.result is not None for c in p.result.meta.grounding
    ]
    if merge is not None:
        checks += merge.policy.checks
    prompt = job.plan.merge_prompt
    result.meta.grounding = checks
    result.meta.chunks = total
    result.meta.chunking = Chunking(
        context_tokens=job.plan.context_tokens,
        article_tokens_estimated=job.plan.article_tokens,
        chunk_budget_tokens=job.plan.budget,
        estimate=ESTIMATE_METHOD,
        chunks=infos,
        merge_prompt=PromptInfo(name=prompt.name, version=prompt.version, sha256=prompt.sha256),
        merged_by=merged_by,
    )
    return result


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

_HONORIFICS = {
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "sen", "rep", "gov", "gen",
    "col", "capt", "lt", "sgt", "president", "vice", "prime", "minister", "secretary",
    "state", "of", "the", "senator", "governor", "general", "spokesman", "spokeswoman",
}  # fmt: skip
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _name_words(name: str, person: bool = True) -> list[str]:
    """The words that name: a person's without titles; anything else's without "the"."""
    ignored = _HONORIFICS if person else {"the"}
    return [w for w in _WORD.findall(name.casefold()) if w not in ignored]


def _plain(name: str) -> str:
    return " ".join(name.casefold().split())


def _same_party(a: Party, b: Party) -> bool:
    """One party under two names: equal names, or (people) one's name words within the other's.

    "Pompeo", "Mr. Pompeo" and "Secretary of State Mike Pompeo" match "Mike Pompeo";
    organizations match only on the whole name, "the" and case aside.
    """
    people = a.kind == b.kind == "person"
    wa, wb = _name_words(a.name, people), _name_words(b.name, people)
    if not wa or not wb:
        return _plain(a.name) == _plain(b.name)
    if wa == wb:
        return True
    if people:
        short, long = sorted((wa, wb), key=len)
        return short[-1] == long[-1] and set(short) <= set(long)
    return False


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
                fullest = max(names, key=lambda n: (len(_name_words(n, person)), -len(n)))
                aliases = list(dict.fromkeys(n for n in names if _plain(n) != _plain(fullest)))
                keep = known if fullest in (known.name, *known.aliases) else party
                merged[i] = keep.model_copy(update={"name": fullest, "aliases": aliases})
                break
        else:
            merged.append(party.model_copy())
    return merged
