"""The checks an answer must pass before anything of it leaves the program.

``grounding.py`` proves that words stand in the article; this module decides
whether they may be used, and turns an answer into an :class:`ArticleSummary`
whose every quote and passage carries its offsets. It runs inside pydantic
validation, so a failure can be re-asked with a short note: instructor validates
the answer against :class:`VerbatimAnswer` (summarize@1) or :class:`CitedCheck`
(summarize@2), which read the article from :func:`checking` (a context
variable: instructor would render the messages as Jinja if the article went in
as ``context=``).

The rules, each with what happens when it fails:

* **Grounded** (summarize@1): every evidence passage and quote is found in the
  article by ``grounding.py``'s rules, every speaker too. Re-asked; when attempts
  run out, the item is dropped.
* **Ids** (summarize@2): every cited sentence and quotation id exists. Re-asked.
* **A. A quotation.** A source quote lies inside a direct quotation of the article
  (``passages.py`` finds them). By construction in summarize@2; in summarize@1 a
  quote of narration is dropped.
* **B. Numbers.** Every number in a statement appears in its evidence
  (``words.numbers_in``: "eight" is 8, "2,500" is 2500).
* **C. Shared words.** A statement shares at least ``MIN_SHARE`` of its content
  words (``words.content_words``; at least one) with its evidence, and at least
  ``MIN_SHARED`` of them unless the statement has no more than that or has a
  number, which B has found in the evidence ("Eight civilians died." is supported by
  "killing at least eight civilians": the number and one word of two).
  B or C failing, the fact is re-cited from the sentences within
  ``RECITE_WINDOW`` of those it cited, to the nearest one that passes both (ties:
  the most shared words); with none, the fact is dropped. If no fact passes, the
  answer is re-asked; when attempts run out, the best-supported facts are kept and
  a warning says they are not supported.
* **D. Speaker.** Where the article attributes the quotation (``passages.py``: the
  cue beside it, or a person said to speak just before it), the speaker must share
  a name with that attribution, or the attribution's name replaces it. Where it
  does not, the speaker must be named within ``SPEAKER_WINDOW`` sentences of the
  quote, or it is removed.
* **E. Parties.** A party's name occurs in the article (case aside; or every word
  of a person's name does, titles aside); otherwise it is dropped.

Everything changed or dropped is named in ``meta.warnings``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, create_model, model_validator

from summarizer.grounding import SourceIndex
from summarizer.passages import Passages, Quotation
from summarizer.schema import (
    ArticleSummary,
    CitedAnswer,
    CitedFact,
    CitedQuote,
    CitedStatement,
    GroundingCheck,
    KeyFact,
    Party,
    SourceQuote,
    Span,
)
from summarizer.words import content_words, name_words, numbers_in, shares_a_name

__all__ = [
    "MIN_SHARE",
    "MIN_SHARED",
    "RECITE_WINDOW",
    "SPEAKER_WINDOW",
    "CheckFailed",
    "CitedCheck",
    "Policy",
    "Problem",
    "Rejected",
    "VerbatimAnswer",
    "checking",
    "citable",
    "cited_model",
    "drop_problems",
    "ground",
    "support",
]

MIN_SHARED = 2
MIN_SHARE = 0.3
RECITE_WINDOW = 2
SPEAKER_WINDOW = 2


class CheckFailed(ValueError):
    """An answer met the schema but failed a check; ``llm.py`` tells it from a schema error.

    A ValueError, so the re-ask that instructor writes reads as it always has
    ("Value error, ... [type=value_error]"): summarize@1's recorded re-asks stay
    byte for byte what the model saw.
    """


What = Literal["quote", "evidence", "speaker", "unsupported", "id"]


@dataclass
class Problem:
    """An item of an answer that fails a check."""

    path: str
    text: str
    what: What

    def describe(self) -> str:
        return f"{self.path} = {_short(self.text)!r}"


@dataclass
class Rejected:
    """An answer that met the schema but not the checks, kept to fall back on."""

    summary: ArticleSummary
    problems: list[Problem]
    notes: list[str] = field(default_factory=list)
    """Rules A-E already applied to it, and what they changed (empty: not yet applied)."""


@dataclass
class Policy:
    """What one request's answers are checked against, and what the checks found.

    ``index`` is the text the answer's words are looked up in; ``passages`` (for
    summarize@2) its sentences and quotations; ``base`` the offset of that text in
    the article (a part of a long article), added when the result is assembled.
    """

    index: SourceIndex
    passages: Passages | None = None
    strict: bool = True
    base: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    checks: list[GroundingCheck] = field(default_factory=list)
    accepted: ArticleSummary | None = None
    notes: list[str] = field(default_factory=list)
    """What the checks changed in the accepted answer (re-cited facts, replaced speakers)."""
    scope: tuple[int, int] | None = None
    """summarize@2: the part of the text the answer covers (a chunk); None: all of it."""
    lead: bool = True
    """summarize@2: the scope starts the article, so its first sentences are its lede."""

    @classmethod
    def for_text(cls, text: str, passages: Passages | None = None) -> Policy:
        return cls(SourceIndex(text), passages)


_POLICY: ContextVar[Policy | None] = ContextVar("summarizer_checks", default=None)


@contextlib.contextmanager
def checking(policy: Policy) -> Iterator[Policy]:
    """Check every answer validated inside this block against ``policy``."""
    token = _POLICY.set(policy)
    try:
        yield policy
    finally:
        _POLICY.reset(token)


def _policy_from(info: ValidationInfo) -> Policy | None:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("source"), str):
        return Policy(SourceIndex(context["source"]), strict=bool(context.get("strict", True)))
    return _POLICY.get()


def _reject(
    policy: Policy,
    summary: ArticleSummary,
    problems: list[Problem],
    note: str,
    notes: list[str] | None = None,
) -> None:
    policy.rejected.append(Rejected(summary, problems, list(notes or [])))
    raise CheckFailed(note)


# --- summarize@1: passages copied by the model -------------------------------------------


class VerbatimAnswer(ArticleSummary):
    """A structured summary of one news article."""

    # The tool is named by the schema's title: the model sees "ArticleSummary", as before.
    model_config = ConfigDict(title="ArticleSummary")

    @model_validator(mode="after")
    def _checked(self, info: ValidationInfo) -> VerbatimAnswer:
        policy = _policy_from(info)
        if policy is None:
            return self
        missing = ground(self, policy.index)
        items = sum(len(f.evidence) for f in self.key_facts) + sum(
            1 + (q.speaker is not None) for q in self.source_quotes
        )
        policy.checks.append(GroundingCheck(items=items, not_found=len(missing)))
        if missing and policy.strict:
            _reject(policy, self, missing, _reask_message(missing))
        policy.accepted = self
        return self


def ground(summary: ArticleSummary, source: SourceIndex | str) -> list[Problem]:
    """Fill in every span of ``summary`` from ``source``; return what could not be found."""
    index = source if isinstance(source, SourceIndex) else SourceIndex(source)
    missing: list[Problem] = []
    for i, fact in enumerate(summary.key_facts):
        fact.evidence_spans = []
        for j, passage in enumerate(fact.evidence):
            span = _span(index, passage)
            fact.evidence_spans.append(span)
            if span is None:
                missing.append(Problem(f"key_facts[{i}].evidence[{j}]", passage, "evidence"))
            elif span.fragments is None:
                fact.evidence[j] = index.text[span.start : span.end]
    for i, quote in enumerate(summary.source_quotes):
        quote.span = _span(index, quote.text)
        if quote.span is None:
            missing.append(Problem(f"source_quotes[{i}].text", quote.text, "quote"))
        elif quote.span.fragments is None:
            quote.text = index.text[quote.span.start : quote.span.end]
        if quote.speaker is not None and (
            not quote.speaker.strip() or index.locate(quote.speaker, ignore_case=True) is None
        ):
            missing.append(Problem(f"source_quotes[{i}].speaker", quote.speaker, "speaker"))
    return missing


def _span(index: SourceIndex, text: str) -> Span | None:
    found = index.locate(text)
    if found is None:
        return None
    fragments = [(a, b) for a, b in found.fragments] or None
    return Span(start=found.start, end=found.end, fragments=fragments)


def _reask_message(missing: list[Problem]) -> str:
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


def drop_problems(summary: ArticleSummary, problems: list[Problem]) -> list[str]:
    """Remove what failed a check; return one warning per change.

    A quote whose speaker is not in the article keeps its text and loses the
    speaker; a fact left with no evidence is dropped with it.
    """
    warnings: list[str] = []
    bad_quotes = {p.path for p in problems if p.what == "quote"}
    bad_speakers = {p.path for p in problems if p.what == "speaker"}
    for item in problems:
        action = "speaker removed" if item.what == "speaker" else "dropped"
        warnings.append(f"not found in the article, {action}: {item.describe()}")
    kept_quotes = []
    for i, quote in enumerate(summary.source_quotes):
        if f"source_quotes[{i}].text" in bad_quotes:
            continue
        if f"source_quotes[{i}].speaker" in bad_speakers:
            quote.speaker = None
        kept_quotes.append(quote)
    summary.source_quotes = kept_quotes
    kept_facts = []
    for i, fact in enumerate(summary.key_facts):
        pairs = [(e, s) for e, s in zip(fact.evidence, fact.evidence_spans, strict=True) if s]
        if not pairs:
            warnings.append(f"key_facts[{i}] dropped: none of its evidence is in the article")
            continue
        fact.evidence = [e for e, _ in pairs]
        fact.evidence_spans = [s for _, s in pairs]
        kept_facts.append(fact)
    summary.key_facts = kept_facts
    return warnings


# --- rules A to E, on a grounded summary --------------------------------------------------


@dataclass(frozen=True)
class Support:
    """How well a statement is supported by some evidence (rules B and C)."""

    numbers_missing: tuple[str, ...]
    shared: int
    words: int
    numbers: int = 0
    """Numbers of the statement that its evidence has (all of them, when B passes)."""

    @property
    def ok(self) -> bool:
        if self.numbers_missing:
            return False
        need = max(1, math.ceil(MIN_SHARE * self.words))
        enough = self.shared >= MIN_SHARED or self.words <= MIN_SHARED or self.numbers > 0
        return self.shared >= need and enough

    @property
    def score(self) -> tuple[bool, bool, float]:
        share = self.shared / self.words if self.words else 1.0
        return (self.ok, not self.numbers_missing, share)

    def why(self) -> str:
        if self.numbers_missing:
            return f"its evidence does not have {', '.join(self.numbers_missing)}"
        return f"it shares {self.shared} of its {self.words} content word(s) with its evidence"


def support(statement: str, evidence: list[str]) -> Support:
    """Rules B and C for one statement and its evidence passages."""
    joined = " ".join(evidence)
    missing = sorted(numbers_in(statement) - numbers_in(joined), key=statement.find)
    words = content_words(statement)
    shared = len(words & content_words(joined))
    return Support(tuple(missing), shared, len(words), len(numbers_in(statement)))


def check_supported(summary: ArticleSummary, passages: Passages | None) -> list[str]:
    """Rules B and C: re-cite a fact from nearby sentences, else drop it; never drop all.

    Returns the warnings. When no fact is supported, the facts are kept as they are
    (the caller decides whether to re-ask) and a warning says so.
    """
    warnings: list[str] = []
    kept: list[KeyFact] = []
    scored: list[tuple[Support, KeyFact]] = []
    for i, fact in enumerate(summary.key_facts):
        _prune(i, fact, warnings)
        found = support(fact.statement, fact.evidence)
        if not found.ok and passages is not None and fact.sentence_ids:
            better = _recite(fact, passages)
            if better is not None:
                old = fact.sentence_ids
                _cite(fact, passages, [better])
                warnings.append(
                    f"key_facts[{i}] re-cited from sentence {_ids(old)} to [{better}]: "
                    f"{found.why()}"
                )
                found = support(fact.statement, fact.evidence)
        scored.append((found, fact))
        if found.ok:
            kept.append(fact)
        else:
            warnings.append(
                f"key_facts[{i}] dropped, its evidence does not say it ({found.why()}): "
                f"{fact.statement!r}"
            )
    if not kept and scored:
        best = sorted(scored, key=lambda pair: pair[0].score, reverse=True)
        kept = [fact for _, fact in best[:3]]
        warnings = [w for w in warnings if " dropped, its evidence does not say it" not in w] + [
            f"no key fact is supported by its evidence (rules B, C); kept the "
            f"{len(kept)} best supported, unchecked"
        ]
    summary.key_facts = kept
    return warnings


def _prune(i: int, fact: KeyFact, warnings: list[str]) -> None:
    """Of two passages, drop one that adds nothing to the statement: no shared word, no number."""
    if len(fact.evidence) < 2:
        return
    words, numbers = content_words(fact.statement), numbers_in(fact.statement)
    keep = [
        j
        for j, passage in enumerate(fact.evidence)
        if words & content_words(passage) or numbers & numbers_in(passage)
    ]
    if not keep or len(keep) == len(fact.evidence):
        return
    for j in range(len(fact.evidence)):
        if j not in keep:
            warnings.append(
                f"key_facts[{i}].evidence[{j}] removed: it shares no word or number with the "
                f"statement: {_short(fact.evidence[j])!r}"
            )
    fact.evidence = [fact.evidence[j] for j in keep]
    fact.evidence_spans = [fact.evidence_spans[j] for j in keep]
    if fact.sentence_ids is not None:  # one id per passage, as _cite made them
        fact.sentence_ids = [fact.sentence_ids[j] for j in keep if j < len(fact.sentence_ids)]


def _ids(ids: list[int] | None) -> str:
    return "".join(f"[{i}]" for i in ids or [])


def _recite(fact: KeyFact, passages: Passages) -> int | None:
    """The nearest sentence to those cited that supports the statement, or None."""
    cited = fact.sentence_ids or []
    count = len(passages.sentences)
    best: tuple[int, int, int] | None = None  # (distance, -shared, id)
    for center in cited:
        for offset in range(-RECITE_WINDOW, RECITE_WINDOW + 1):
            candidate = center + offset
            if offset == 0 or not 1 <= candidate <= count or candidate in cited:
                continue
            text = passages.sentences[candidate - 1].text
            found = support(fact.statement, [text])
            if found.ok:
                key = (abs(offset), -found.shared, candidate)
                best = key if best is None or key < best else best
    return None if best is None else best[2]


def _cite(fact: KeyFact, passages: Passages, ids: list[int]) -> None:
    sentences = [passages.sentences[i - 1] for i in ids]
    fact.sentence_ids = ids
    fact.evidence = [s.text for s in sentences]
    fact.evidence_spans = [Span(start=s.start, end=s.end) for s in sentences]


def check_quotations(summary: ArticleSummary, passages: Passages | None) -> list[str]:
    """Rule A for copied quotes: a quote must lie inside a quotation of the article."""
    if passages is None:
        return []
    warnings: list[str] = []
    kept: list[SourceQuote] = []
    for i, quote in enumerate(summary.source_quotes):
        span = quote.span
        if span is not None and passages.inside_quotation(span.start, span.end) is None:
            warnings.append(
                f"source_quotes[{i}] dropped, it is not inside quotation marks in the article "
                f"(narration, not a quote): {_short(quote.text)!r}"
            )
            continue
        kept.append(quote)
    summary.source_quotes = kept
    return warnings


def _short(text: str) -> str:
    return text if len(text) <= 90 else text[:87] + "..."


def _near(passages: Passages, index: SourceIndex, quotation: Quotation, name: str) -> bool:
    """Is ``name`` named within SPEAKER_WINDOW sentences of the quotation?"""
    first = max(quotation.sentence - SPEAKER_WINDOW, 1)
    last = min(quotation.sentence + SPEAKER_WINDOW, len(passages.sentences))
    start = passages.sentences[first - 1].start
    end = passages.sentences[last - 1].end
    window = SourceIndex(index.text[start:end])
    if window.locate(name, ignore_case=True) is not None:
        return True
    words = [w for w in name_words(name) if len(w) >= 2]
    folded = window.text.casefold()
    return bool(words) and words[-1] in re.findall(r"[^\W_]+", folded)


_NO_SPEAKER = {"", "unknown", "null", "none", "n/a", "?", "-", "anonymous", "unnamed"}


def check_speakers(
    summary: ArticleSummary, passages: Passages | None, index: SourceIndex
) -> list[str]:
    """Rule D: a speaker matches the quotation's cue or is named near it."""
    if passages is None:
        return []
    warnings: list[str] = []
    for i, quote in enumerate(summary.source_quotes):
        quotation = (
            passages.quotations[quote.quotation_id - 1]
            if quote.quotation_id is not None
            else (
                passages.inside_quotation(quote.span.start, quote.span.end) if quote.span else None
            )
        )
        if quotation is None:
            continue
        cue = quotation.speaker
        given = quote.speaker
        if given is not None and given.strip().casefold() in _NO_SPEAKER:
            given = quote.speaker = None
        if cue is not None:
            if given is not None and shares_a_name(given, cue):
                continue
            if given is not None:
                warnings.append(
                    f"source_quotes[{i}] speaker {given!r} is not who the article says spoke; "
                    f"its attribution says {cue!r}"
                )
            quote.speaker = cue
        elif given is not None and not _near(passages, index, quotation, given):
            warnings.append(
                f"source_quotes[{i}] speaker {given!r} removed: not named within "
                f"{SPEAKER_WINDOW} sentences of the quote"
            )
            quote.speaker = None
    return warnings


def check_parties(summary: ArticleSummary, index: SourceIndex) -> list[str]:
    """Rule E: a party's name occurs in the article."""
    warnings: list[str] = []
    kept: list[Party] = []
    words = set(re.findall(r"[^\W_]+", index.text.casefold()))
    for i, party in enumerate(summary.parties):
        name = party.name.strip()
        found = bool(name) and index.locate(name, ignore_case=True) is not None
        if not found and party.kind == "person":
            parts = [w for w in name_words(name) if len(w) >= 2]
            found = bool(parts) and all(w in words for w in parts)
        if found:
            kept.append(party)
        else:
            warnings.append(f"parties[{i}] dropped, not named in the article: {name!r}")
    summary.parties = kept
    return warnings


def check_meaning(
    summary: ArticleSummary, passages: Passages | None, index: SourceIndex
) -> list[str]:
    """Rules A to E on a grounded summary, in place; the warnings of what changed."""
    return [
        *check_quotations(summary, passages),
        *check_supported(summary, passages),
        *check_speakers(summary, passages, index),
        *check_parties(summary, index),
    ]


# --- summarize@2: ids cited by the model --------------------------------------------------


class CitedCheck(CitedAnswer):
    """A structured summary of one news article that cites its numbered sentences and quotations."""

    model_config = ConfigDict(title="CitedAnswer")

    @model_validator(mode="after")
    def _checked(self, info: ValidationInfo) -> CitedCheck:
        policy = _POLICY.get()
        if policy is None or policy.passages is None:
            return self
        passages = policy.passages
        problems, summary = _resolve(self, passages, policy.scope, policy.lead)
        items = sum(len(f.sentences) for f in self.key_facts) + len(self.quotes)
        policy.checks.append(GroundingCheck(items=items, not_found=len(problems)))
        if problems and policy.strict:
            _reject(policy, summary, problems, _cited_reask(problems, passages))
        notes = check_meaning(summary, passages, policy.index)
        # check_supported keeps unsupported facts only when none passes: then re-ask.
        if summary.key_facts and not any(
            support(f.statement, f.evidence).ok for f in summary.key_facts
        ):
            unsupported = [
                Problem(f"key_facts[{i}]", f.statement, "unsupported")
                for i, f in enumerate(summary.key_facts)
            ]
            if policy.strict:
                _reject(
                    policy,
                    summary,
                    unsupported,
                    "No statement says what its cited sentences say. Cite, for each "
                    "statement, the sentence ids whose words state it, numbers included.",
                    notes,
                )
        policy.accepted = summary
        policy.notes = notes
        return self


@functools.lru_cache(maxsize=128)
def cited_model(
    sentences: tuple[int, ...], quotes: tuple[int, ...], statements: bool = False
) -> type[CitedCheck]:
    """:class:`CitedCheck` with ids narrowed to those of one article (or part of one).

    An answer citing an id that does not exist then breaks the schema; on a server that
    constrains output to the schema, it cannot be written at all. ``statements``: the
    model words each fact itself (for another language than the article's); otherwise
    a fact's statement is its sentences, and the model writes nothing but ids for it.
    """
    if not sentences:
        return CitedCheck
    sentence_id: Any = Literal.__getitem__(sentences)  # Literal[1, 2, ..., n]
    # Without its own statement, a fact is one sentence: a second one, seen cited by the
    # 1.5B model, was as often unrelated as not, and would be joined into the statement.
    fact = create_model(
        "CitedFact",
        __base__=CitedStatement if statements else CitedFact,
        sentences=(list[sentence_id], Field(min_length=1, max_length=2 if statements else 1)),
    )
    quote_fields: dict[str, Any] = {}
    if quotes:
        quote_fields["id"] = (Literal.__getitem__(quotes), Field(description="3 for Q3."))
    quote = create_model("CitedQuote", __base__=CitedQuote, **quote_fields)
    model: type[CitedCheck] = create_model(
        "CitedAnswer",
        __base__=CitedCheck,
        __doc__=CitedCheck.__doc__,
        key_facts=(list[fact], Field(min_length=min(3, len(sentences)), max_length=5)),  # type: ignore[valid-type]
        quotes=(list[quote], Field(max_length=min(5, len(quotes)))),  # type: ignore[valid-type]
    )
    return model


def citable(sentence: str) -> bool:
    """A sentence that can stand as a fact: it ends as a sentence ends.

    Headlines, captions and datelines do not ("Rocket attack in Kabul, Mike Pompeo met
    Afghan government and the Taliban"); a model that cited them made poor facts.
    """
    ending = sentence.rstrip(_CLOSERS + " \u00a0")[-1:]
    return ending in (".", "!", "?", "\u2026") and len(sentence) >= 20


_CLOSERS = "\"'\u201d\u2019\u00bb\u203a)]"
LEAD_FACTS = 5
"""The lede: the first sentences of substance that are always key facts (summarize@2).
News puts its main facts first. On examples/dev, the 1.5B model's own picks covered
0.34 of the checklist facts; the first five sentences and its picks, 0.61."""
MAX_FACTS = 8
MAX_QUOTES = 5


def _resolve(
    answer: CitedAnswer,
    passages: Passages,
    scope: tuple[int, int] | None = None,
    lead: bool = True,
) -> tuple[list[Problem], ArticleSummary]:
    """The summary the ids stand for; ids that exist nowhere are problems.

    The lede's sentences come first among the facts, then the model's picks; the
    model's quotes come first, then the article's other quotations in order (up to
    MAX_QUOTES), each with the speaker its attribution names.
    """
    start, end = scope or (0, len(passages.text))
    count = len(passages.sentences)
    quotes_by_id = {q.id: q for q in passages.quotations}
    problems: list[Problem] = []
    facts: list[KeyFact] = []
    if lead:
        lede = [
            s.id
            for s in passages.sentences
            if start <= s.start and s.end <= end and citable(s.text)
        ][:LEAD_FACTS]
        for n in lede:
            fact = KeyFact(statement="-", evidence=["-"])
            _cite(fact, passages, [n])
            fact.statement = fact.evidence[0]
            facts.append(fact)
    for i, cited in enumerate(answer.key_facts):
        good = [n for n in cited.sentences if 1 <= n <= count]
        for n in cited.sentences:
            if n not in good:
                problems.append(Problem(f"key_facts[{i}].sentences", str(n), "id"))
        if not good:
            continue
        fact = KeyFact(statement="-", evidence=["-"])
        _cite(fact, passages, good)
        worded = getattr(cited, "statement", None)
        fact.statement = " ".join(worded.split()) if worded else " ".join(fact.evidence)
        if worded is None and any(f.sentence_ids == fact.sentence_ids for f in facts):
            continue  # the model picked a sentence of the lede
        facts.append(fact)
    facts = facts[:MAX_FACTS]
    quotes: list[SourceQuote] = []
    seen: set[int] = set()
    for i, cited_quote in enumerate(answer.quotes):
        quotation = quotes_by_id.get(cited_quote.id)
        if quotation is None:
            problems.append(Problem(f"quotes[{i}].id", f"Q{cited_quote.id}", "id"))
            continue
        if quotation.id in seen:
            continue
        seen.add(quotation.id)
        speaker = cited_quote.speaker.strip() if cited_quote.speaker else None
        quotes.append(_quote(passages, quotation, speaker or None))
    for quotation in passages.quotations:
        if len(quotes) >= MAX_QUOTES:
            break
        if quotation.short or quotation.id in seen or not start <= quotation.start < end:
            continue
        seen.add(quotation.id)
        quotes.append(_quote(passages, quotation, quotation.speaker))
    summary = ArticleSummary.model_construct(
        headline=answer.headline,
        key_facts=facts,
        parties=ArticleSummary._unique_parties(list(answer.parties)),
        open_questions=list(answer.open_questions),
        source_quotes=quotes,
    )
    return problems, summary


def _quote(passages: Passages, quotation: Quotation, speaker: str | None) -> SourceQuote:
    fragments = list(quotation.fragments) if len(quotation.fragments) > 1 else None
    return SourceQuote(
        text=passages.text[quotation.start : quotation.end]
        if fragments is None
        else quotation.text,
        speaker=speaker,
        span=Span(start=quotation.start, end=quotation.end, fragments=fragments),
        quotation_id=quotation.id,
    )


def _cited_reask(problems: list[Problem], passages: Passages) -> str:
    sentences = [p.text for p in problems if p.path.startswith("key_facts")]
    quotes = [p.text for p in problems if p.path.startswith("quotes")]
    parts = []
    if sentences:
        parts.append(
            f"Sentence ids run from 1 to {len(passages.sentences)}; these are none of them: "
            + ", ".join(sentences)
            + "."
        )
    if quotes:
        known = ", ".join(f"Q{q.id}" for q in passages.quotations) or "none"
        parts.append(f"There is no quotation {', '.join(quotes)} (the list: {known}).")
    return " ".join(parts)
