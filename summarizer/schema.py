"""The pydantic shapes: what users import, and what the model is asked to answer.

Field descriptions are part of the prompt: the model reads them in the tool
schema, so they are short and say what to copy and what to write.

Offsets are never asked of the model. Fields marked ``SkipJsonSchema`` are left
out of the schema the model sees and are filled in by the program
(``checks.py``), which also puts the article's own characters in each quote and
passage, so that ``text[start:end] == quote.text``.

Two answer shapes reach the model: :class:`ArticleSummary` itself (summarize@1:
passages copied verbatim) and :class:`CitedAnswer` (summarize@2: ids of the
sentences and quotations that ``passages.py`` found), which the program turns
into an :class:`ArticleSummary`. The rules an answer must meet live in ``checks.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

__all__ = [
    "SCHEMA_VERSION",
    "ArticleSummary",
    "Attempt",
    "ChunkInfo",
    "Chunking",
    "CitedAnswer",
    "CitedFact",
    "CitedParty",
    "CitedQuote",
    "CitedStatement",
    "Cleaning",
    "GroundingCheck",
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
    "Usage",
]

SCHEMA_VERSION = 2
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
    sentence_ids: SkipJsonSchema[list[int] | None] = Field(
        default=None,
        description="summarize@2: the ids of the evidence sentences (passages.py numbering).",
    )

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
    quotation_id: SkipJsonSchema[int | None] = Field(
        default=None, description="summarize@2: the id of the quotation (passages.py numbering)."
    )


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


class CitedFact(BaseModel):
    sentences: list[int] = Field(
        min_length=1, max_length=2, description="Ids of the 1 or 2 sentences that state it."
    )

    @field_validator("sentences")
    @classmethod
    def _unique(cls, ids: list[int]) -> list[int]:
        return list(dict.fromkeys(ids))


class CitedStatement(CitedFact):
    """A cited fact the model also words itself: asked for when ``language`` is set."""

    statement: str = Field(max_length=200, description="The fact in at most 20 words.")


class CitedQuote(BaseModel):
    id: int = Field(description="The quotation's number: 3 for Q3.")
    speaker: str | None = Field(
        max_length=80, description="Who said it, as the article names them, or null."
    )


class CitedParty(Party):
    # Caps that a grammar-constrained server enforces: every output token costs ~50 ms
    # on a CPU, and parties were the longest part of summarize@2's answers.
    name: str = Field(max_length=60, description="Name as written in the article.")
    role: str = Field(max_length=48, description="Their part in this story, a few words.")


class CitedAnswer(BaseModel):
    """A structured summary of one news article that cites its numbered sentences and quotations.

    The program narrows ``sentences`` and ``id`` to the ids that exist in the article
    (``checks.cited_model``): a server that turns the schema into a grammar
    (llama.cpp) then cannot even write an id that does not exist.
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    headline: str = Field(max_length=160, description="One line in your own words.")
    key_facts: list[CitedFact] = Field(min_length=1, max_length=8)
    quotes: list[CitedQuote] = Field(max_length=5)
    parties: list[CitedParty] = Field(max_length=6)
    open_questions: list[Annotated[str, Field(max_length=120)]] = Field(max_length=3)

    @field_validator("headline")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())


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
    kind: Literal["ok", "transport", "schema", "grounding", "fatal", "validation"] = "ok"
    """ok; transport (retried, never an answer); schema (the answer broke the schema or
    was cut off); grounding (it met the schema, not the checks of checks.py); fatal.
    ``validation`` is how results saved before 0.2 said schema or grounding."""
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
    via: Literal["batch-api", "import"] | None = Field(
        default=None,
        description="How the answers came: null for live calls; batch-api through the "
        "provider's Batch API (cost at its batch price); import from a batch output file "
        "of another engine, such as vLLM's run_batch (`summarizer batch --import`).",
    )

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
