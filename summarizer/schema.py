"""The models users import, and the grounding rules the model's answer must meet.

Field descriptions are part of the prompt: the model reads them in the tool
schema, so they are short and say what to copy and what to write.

Offsets are never asked of the model. Fields marked ``SkipJsonSchema`` are left
out of the schema the model sees and are filled in by :meth:`ArticleSummary.ground`,
which also replaces each located quote and passage by the article's own
characters (curly quotes, dashes and all), so that ``text[start:end] == quote.text``.
Grounding runs inside validation when a source is given, either as pydantic
validation context (``model_validate(data, context={"source": text})``) or,
for model calls, through :func:`grounding_source` (instructor would render the
messages as Jinja templates if the source went in as ``context=``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from summarizer.grounding import SourceIndex

__all__ = [
    "SCHEMA_VERSION",
    "ArticleSummary",
    "Attempt",
    "ChunkInfo",
    "Chunking",
    "Cleaning",
    "GroundingCheck",
    "GroundingPolicy",
    "KeyFact",
    "Meta",
    "Party",
    "PartyKind",
    "PromptInfo",
    "RemovedText",
    "SourceInfo",
    "SourceQuote",
    "Span",
    "SummaryResult",
    "Ungrounded",
    "Usage",
    "grounding_source",
]

SCHEMA_VERSION = 1
"""Bump when the shape of ArticleSummary changes: caches and saved results key on it."""

PartyKind = Literal["person", "organization", "government", "country", "group", "other"]


class Span(BaseModel):
    """Where words stand in the article text: ``text[start:end]``."""

    start: int
    end: int
    fragments: list[tuple[int, int]] | None = Field(
        default=None, description="For a quote joined with '...': each fragment's offsets."
    )


class KeyFact(BaseModel):
    statement: str = Field(description="One short sentence in your own words.")
    evidence: list[str] = Field(
        min_length=1,
        max_length=3,
        description="1-2 passages copied exactly from the article that prove the statement.",
    )
    evidence_spans: SkipJsonSchema[list[Span | None]] = Field(default_factory=list)

    @field_validator("statement")
    @classmethod
    def _not_the_instructions(cls, value: str, info: ValidationInfo) -> str:
        return _not_copied_description(cls, value, info)

    @field_validator("evidence")
    @classmethod
    def _unique_evidence(cls, passages: list[str]) -> list[str]:
        return list(dict.fromkeys(passages))


def _not_copied_description(model: type[BaseModel], value: str, info: ValidationInfo) -> str:
    """The 0.5B model answered a headline with its field description; that is no answer."""
    description = model.model_fields[str(info.field_name)].description or ""
    if value.strip().casefold() == description.casefold():
        raise ValueError("this is the field's description, not an answer from the article")
    return value


class Party(BaseModel):
    name: str = Field(description="Name as written in the article.")
    kind: PartyKind
    role: str = Field(description="Their part in this story, a few words.")
    aliases: SkipJsonSchema[list[str]] = Field(
        default_factory=list,
        description="Other names for the same party in the article (filled in when chunk "
        "summaries are merged; never asked of the model).",
    )


class SourceQuote(BaseModel):
    text: str = Field(description="Words quoted in the article, copied exactly.")
    speaker: str | None = Field(
        description="Who said it, as named in the article; null if the article does not say."
    )
    span: SkipJsonSchema[Span | None] = None


@dataclass
class Ungrounded:
    """An item of the answer that is not in the article."""

    path: str
    text: str
    what: Literal["quote", "evidence", "speaker"]

    def describe(self) -> str:
        shown = self.text if len(self.text) <= 90 else self.text[:87] + "..."
        return f"{self.path} = {shown!r}"


@dataclass
class GroundingPolicy:
    """What validation checks against; ``strict`` makes a miss a validation error."""

    source: str
    strict: bool = True
    index: SourceIndex = field(init=False, repr=False)
    rejected: list[tuple[ArticleSummary, list[Ungrounded]]] = field(default_factory=list)
    checks: list[GroundingCheck] = field(default_factory=list)
    """Answers that met the schema but not the grounding, kept to fall back on."""

    def __post_init__(self) -> None:
        self.index = SourceIndex(self.source)


_POLICY: ContextVar[GroundingPolicy | None] = ContextVar("summarizer_grounding", default=None)


@contextlib.contextmanager
def grounding_source(policy: GroundingPolicy) -> Iterator[GroundingPolicy]:
    """Ground every ArticleSummary validated inside this block against ``policy``."""
    token = _POLICY.set(policy)
    try:
        yield policy
    finally:
        _POLICY.reset(token)


def _policy_from(info: ValidationInfo) -> GroundingPolicy | None:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("source"), str):
        return GroundingPolicy(context["source"], strict=bool(context.get("strict", True)))
    return _POLICY.get()


class ArticleSummary(BaseModel):
    """A structured summary of one news article."""

    model_config = ConfigDict(hide_input_in_errors=True)

    headline: str = Field(
        max_length=160, description="One line, at most 120 characters, in your own words."
    )
    key_facts: list[KeyFact] = Field(
        min_length=1, max_length=8, description="The 3-6 most important facts."
    )
    parties: list[Party] = Field(
        max_length=12,
        description="People, organizations, governments, countries, groups involved; each once.",
    )
    open_questions: list[str] = Field(
        max_length=5,
        description="Up to 3 questions the article raises but leaves unanswered.",
    )
    source_quotes: list[SourceQuote] = Field(
        max_length=8,
        description="Up to 5 statements the article puts in quotation marks.",
    )

    @field_validator("headline")
    @classmethod
    def _one_line(cls, value: str, info: ValidationInfo) -> str:
        return _not_copied_description(cls, " ".join(value.split()), info)

    @field_validator("parties")
    @classmethod
    def _unique_parties(cls, parties: list[Party]) -> list[Party]:
        """Small models repeat a party; keep the first mention of each name."""
        seen: set[str] = set()
        unique = []
        for party in parties:
            key = " ".join(party.name.casefold().split())
            if key not in seen:
                seen.add(key)
                unique.append(party)
        return unique

    @model_validator(mode="after")
    def _grounded(self, info: ValidationInfo) -> ArticleSummary:
        policy = _policy_from(info)
        if policy is None:
            return self
        missing = self.ground(policy.index)
        items = sum(len(f.evidence) for f in self.key_facts) + sum(
            1 + (q.speaker is not None) for q in self.source_quotes
        )
        policy.checks.append(GroundingCheck(items=items, not_found=len(missing)))
        if missing and policy.strict:
            policy.rejected.append((self, missing))
            raise ValueError(_reask_message(missing))
        return self

    def ground(self, source: SourceIndex | str) -> list[Ungrounded]:
        """Fill in every span from ``source``; return what could not be found."""
        index = source if isinstance(source, SourceIndex) else SourceIndex(source)
        missing: list[Ungrounded] = []
        for i, fact in enumerate(self.key_facts):
            fact.evidence_spans = []
            for j, passage in enumerate(fact.evidence):
                span = _span(index, passage)
                fact.evidence_spans.append(span)
                if span is None:
                    missing.append(Ungrounded(f"key_facts[{i}].evidence[{j}]", passage, "evidence"))
                elif span.fragments is None:
                    fact.evidence[j] = index.text[span.start : span.end]
        for i, quote in enumerate(self.source_quotes):
            quote.span = _span(index, quote.text)
            if quote.span is None:
                missing.append(Ungrounded(f"source_quotes[{i}].text", quote.text, "quote"))
            elif quote.span.fragments is None:
                quote.text = index.text[quote.span.start : quote.span.end]
            if quote.speaker is not None and (
                not quote.speaker.strip() or index.locate(quote.speaker, ignore_case=True) is None
            ):
                missing.append(Ungrounded(f"source_quotes[{i}].speaker", quote.speaker, "speaker"))
        return missing

    def drop_ungrounded(self, missing: list[Ungrounded]) -> list[str]:
        """Remove what ``ground`` could not find; return one warning per change.

        A quote whose speaker is not in the article keeps its text and loses
        the speaker; a fact left with no evidence is dropped with it.
        """
        warnings: list[str] = []
        bad_quotes = {m.path for m in missing if m.what == "quote"}
        bad_speakers = {m.path for m in missing if m.what == "speaker"}
        for item in missing:
            action = "speaker removed" if item.what == "speaker" else "dropped"
            warnings.append(f"not found in the article, {action}: {item.describe()}")
        kept_quotes = []
        for i, quote in enumerate(self.source_quotes):
            if f"source_quotes[{i}].text" in bad_quotes:
                continue
            if f"source_quotes[{i}].speaker" in bad_speakers:
                quote.speaker = None
            kept_quotes.append(quote)
        self.source_quotes = kept_quotes
        kept_facts = []
        for i, fact in enumerate(self.key_facts):
            pairs = [(e, s) for e, s in zip(fact.evidence, fact.evidence_spans, strict=True) if s]
            if not pairs:
                warnings.append(f"key_facts[{i}] dropped: none of its evidence is in the article")
                continue
            fact.evidence = [e for e, _ in pairs]
            fact.evidence_spans = [s for _, s in pairs]
            kept_facts.append(fact)
        self.key_facts = kept_facts
        return warnings


def _span(index: SourceIndex, text: str) -> Span | None:
    found = index.locate(text)
    if found is None:
        return None
    return Span(
        start=found.start,
        end=found.end,
        fragments=[list(f) for f in found.fragments] or None,  # type: ignore[misc]
    )


def _reask_message(missing: list[Ungrounded]) -> str:
    """What the model reads on a re-ask: what was not found, and what to do."""
    words = [m.describe() for m in missing if m.what != "speaker"]
    speakers = [m.describe() for m in missing if m.what == "speaker"]
    parts = []
    if words:
        parts.append(
            "These are not copied exactly from the article: "
            + "; ".join(words)
            + ". Copy the article's exact words, one passage each, or leave the item out."
        )
    if speakers:
        parts.append(
            "These speakers are not named in the article: "
            + "; ".join(speakers)
            + ". Use the name as the article writes it, or null."
        )
    return " ".join(parts)


class Usage(BaseModel):
    """Tokens spent; ``None`` means the endpoint did not say, never zero."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a + b

        return Usage(
            prompt_tokens=add(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=add(self.completion_tokens, other.completion_tokens),
            total_tokens=add(self.total_tokens, other.total_tokens),
        )

    @classmethod
    def zero(cls) -> Usage:
        return cls(prompt_tokens=0, completion_tokens=0, total_tokens=0)

    @classmethod
    def total(cls, usages: list[Usage | None]) -> Usage:
        """Sum over attempts; one unknown makes the total unknown."""
        total = cls.zero()
        for usage in usages:
            total = total + (usage if usage is not None else cls())
        return total

    def cost_usd(self, price: tuple[float, float] | None) -> float | None:
        """Cost at ``price`` (USD per million prompt, completion tokens); None if unknown."""
        if price is None or self.prompt_tokens is None or self.completion_tokens is None:
            return None
        spent = self.prompt_tokens * price[0] + self.completion_tokens * price[1]
        return round(spent / 1_000_000, 8)


class Attempt(BaseModel):
    """One HTTP call to the model, transport failures included."""

    number: int
    error: str | None = None
    kind: Literal["ok", "transport", "validation", "fatal"] = "ok"
    usage: Usage | None = None
    finish_reason: str | None = None
    latency_s: float


class PromptInfo(BaseModel):
    name: str
    version: int
    sha256: str


class GroundingCheck(BaseModel):
    """One schema-valid answer's grounding: passages, quotes and speakers given, and how many
    were not in the article. Compare the first and the last to see what re-asks bought."""

    items: int
    not_found: int


class RemovedText(BaseModel):
    """Characters of the input that the model did not see: ``input[start:end] == text``."""

    start: int
    end: int
    text: str
    reason: str


class Cleaning(BaseModel):
    """How the text the model saw differs from the article as given.

    Grounding ran against the cleaned text; every offset in the result has been
    moved back to the article as given (``meta.article_sha256``), so ``removed``
    lists input offsets too.
    """

    text_sha256: str = Field(description="sha256 of the cleaned text the model saw.")
    text_chars: int
    removed: list[RemovedText]


class SourceInfo(BaseModel):
    """Where the article came from, when it was HTML or a URL."""

    kind: Literal["text", "html", "url"] = "text"
    url: str | None = None
    title: str | None = None
    author: str | None = None
    date: str | None = None


class ChunkInfo(BaseModel):
    """One part of a long article, summarized on its own before the merge."""

    start: int
    end: int
    tokens_estimated: int
    calls: int
    usage: Usage
    key_facts: int = Field(description="Key facts the chunk's summary had.")
    key_facts_kept: int = Field(description="Of those, how many the merged summary has.")


class Chunking(BaseModel):
    """How a long article was split, and the merge that made one summary of its parts."""

    context_tokens: int
    article_tokens_estimated: int
    chunk_budget_tokens: int
    estimate: str = Field(description="How tokens were counted (no tokenizer: see chunking.py).")
    chunks: list[ChunkInfo]
    merge_prompt: PromptInfo
    merged_by: Literal["model", "rule"] = Field(
        description="rule: the merge answer could not be used, so the parts were merged by "
        "rule (facts in turn from each part, parties and quotes deduplicated)."
    )


class Meta(BaseModel):
    """How a summary was made: enough to reproduce it and to account for it."""

    model: str
    endpoint: str = Field(description="Host of the endpoint; never a key.")
    mode: str
    prompt: PromptInfo
    attempts: list[Attempt]
    usage: Usage
    cost_usd: float | None = Field(
        default=None,
        description="Estimated from usage and the price table; null when the model's price "
        "or the usage is unknown.",
    )
    cached: bool = Field(
        default=False,
        description="Served from the result cache: no call was made this time; usage and "
        "cost are what the stored result cost when it was made.",
    )
    latency_s: float
    article_sha256: str
    article_chars: int
    schema_version: int = SCHEMA_VERSION
    summarizer_version: str
    created_at: datetime
    grounding: list[GroundingCheck] = Field(
        default_factory=list, description="One entry per schema-valid answer, in order."
    )
    warnings: list[str] = Field(default_factory=list)
    calls: int = Field(
        default=0, description="HTTP calls made, every chunk and the merge included."
    )
    chunks: int = Field(default=1, description="Parts the article was split into (1: none).")
    chunking: Chunking | None = None
    cleaning: Cleaning | None = Field(
        default=None,
        description="Lines removed before the model saw the text (offsets still point "
        "into the article as given). None: nothing was removed.",
    )
    source: SourceInfo | None = None

    @model_validator(mode="before")
    @classmethod
    def _calls_default(cls, data: Any) -> Any:
        """Results saved before ``calls`` existed: one call per attempt."""
        if isinstance(data, dict) and "calls" not in data:
            data = {**data, "calls": len(data.get("attempts") or [])}
        return data


class SummaryResult(BaseModel):
    """A grounded summary plus the record of how it was made."""

    summary: ArticleSummary
    meta: Meta

    def to_json(self, **kwargs: Any) -> str:
        return self.model_dump_json(**kwargs)
