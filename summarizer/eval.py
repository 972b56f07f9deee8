"""How good are the summaries? What ``summarizer eval DIR`` measures, per article and overall.

Each metric is a pure function of a :class:`~summarizer.schema.SummaryResult`, the
article text and, optionally, a :class:`Checklist` written by a person::

    report = evaluate(result, text, load_checklist(Path("examples/kabul-rocket-attack.txt")))
    print(report.fact_recall, report.numbers_not_in_article)

The metrics, exactly:

* **schema-valid on the first attempt**: the first answer of the model met the
  schema: its attempt's kind is ``ok`` or ``grounding`` (it met the schema and
  failed only the checks of ``checks.py``). Transport failures before it are not
  answers and do not count.
* **calls**: HTTP calls made (``meta.calls``: re-asks, transport retries, the chunks
  and the merge of a long article included).
* **grounding rate, first and final**: of the passages, quotes and speakers in a
  schema-valid answer, the share found in the article (``meta.grounding``: one
  check per schema-valid answer; first = before any re-ask, final = the last answer
  checked). What the result keeps is always fully grounded: ungrounded items are
  dropped and named in ``meta.warnings``.
* **numbers not in the article**: numbers in key-fact statements (the model's own
  words; evidence is verbatim by construction) that do not occur in the article.
  Digits are read with thousands separators removed (``2,500`` is ``2500``);
  number words (``eight``, ``two dozen``, ``twenty-three``) count as their value
  on both sides, so "8 civilians" is supported by "eight civilians".
* **fact recall** (with a checklist): the share of checklist facts that some key
  fact covers. A checklist fact is covered when one key fact's statement and
  evidence together contain every number of the checklist fact and at least two
  thirds of its other terms (words of three letters or more, stop words left out,
  compared case-folded with a final ``ing``/``ed``/``es``/``s``/``e`` removed, so
  "killed" meets "killing").
* **quote recall** (with a checklist): the share of checklist quotations found
  among the source quotes, after the grounding normalisation and case-folding:
  a source quote that contains the checklist quote, or lies inside it and covers
  at least half of it. **Attributed**: of those, the ones whose speaker shares a
  name with the checklist speaker (titles like "Mr." ignored: "Mr. Amiri" is
  "Farid Ahmad Amiri"); a checklist speaker of null wants a null speaker.
* **party recall** (with a checklist that lists ``parties``): checklist names found
  among the parties' names and aliases (one holds the other, or they share a name).
* **quotes in quotation marks**: source quotes that lie inside a direct quotation
  of the article, as ``passages.py`` finds them (rule A; precision of "quotes").
* **facts supported**: key facts whose evidence says what the statement says by
  rules B and C of ``checks.py`` (every number; enough shared content words).
* **facts and quotes per article**; overall, their medians and the count of
  **empty** summaries (no key fact).
* **tokens, calls and latency**: ``meta.usage`` (None when the endpoint did not
  say), ``meta.calls`` and ``meta.latency_s``; overall, medians.

A checklist sits beside the article as ``NAME.checklist.json``::

    {"facts": ["8 civilians were killed"],
     "quotes": [{"text": "It's so traumatic,", "speaker": "Amiri"}],
     "parties": ["Farid Ahmad Amiri"]}

Every checklist quote and party must be in the article, or the checklist is refused.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from summarizer.checks import support
from summarizer.errors import ConfigError, SummarizerError
from summarizer.grounding import locate, normalize
from summarizer.passages import find_passages
from summarizer.schema import Attempt, GroundingCheck, KeyFact, SourceQuote, SummaryResult
from summarizer.words import content_words, guess_language, numbers_in, shares_a_name

__all__ = [
    "CHECKLIST_SUFFIX",
    "ArticleEval",
    "Checklist",
    "ChecklistQuote",
    "Rate",
    "as_json",
    "checklist_path",
    "evaluate",
    "fact_covered",
    "failed",
    "first_answer_schema_valid",
    "format_table",
    "load_checklist",
    "numbers_in",
    "overall",
    "quote_matches",
    "run_eval",
    "speakers_match",
    "unsupported_numbers",
]

CHECKLIST_SUFFIX = ".checklist.json"

# --- a checklist ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistQuote:
    text: str
    speaker: str | None


@dataclass(frozen=True)
class Checklist:
    """What a person says a good summary of one article must contain."""

    facts: tuple[str, ...] = ()
    quotes: tuple[ChecklistQuote, ...] = ()
    parties: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Any, source: str = "<checklist>") -> Checklist:
        """Read ``{"facts": [str], "quotes": [{"text", "speaker"}], "parties": [str]}``."""
        if not isinstance(data, dict) or set(data) - {"facts", "quotes", "parties"}:
            raise ConfigError(
                f"{source}: expected an object with 'facts', 'quotes' and (optional) 'parties'"
            )
        facts = data.get("facts", [])
        quotes = data.get("quotes", [])
        parties = data.get("parties", [])
        if not isinstance(parties, list) or not all(isinstance(p, str) and p for p in parties):
            raise ConfigError(f"{source}: 'parties' must be a list of non-empty strings")
        if not isinstance(facts, list) or not all(isinstance(f, str) and f for f in facts):
            raise ConfigError(f"{source}: 'facts' must be a list of non-empty strings")
        if not isinstance(quotes, list) or not all(
            isinstance(q, dict)
            and isinstance(q.get("text"), str)
            and q["text"].strip()
            and isinstance(q.get("speaker"), str | None)
            for q in quotes
        ):
            raise ConfigError(
                f"{source}: 'quotes' must be a list of {{'text': str, 'speaker': str or null}}"
            )
        for fact in facts:
            numbers, words = _terms(fact)
            if not numbers and not words:
                raise ConfigError(f"{source}: the fact {fact!r} has no term to look for")
        return cls(
            facts=tuple(facts),
            quotes=tuple(ChecklistQuote(q["text"], q.get("speaker")) for q in quotes),
            parties=tuple(parties),
        )

    def check_against(self, article: str, source: str = "<checklist>") -> None:
        """Every quotation must stand in the article (by the grounding rules)."""
        for quote in self.quotes:
            if locate(quote.text, article) is None:
                raise ConfigError(f"{source}: the quote {quote.text!r} is not in the article")
        for party in self.parties:
            if locate(party, article, ignore_case=True) is None:
                raise ConfigError(f"{source}: the party {party!r} is not named in the article")


def checklist_path(article: Path) -> Path:
    """``examples/a.txt`` -> ``examples/a.checklist.json``."""
    return article.with_name(article.stem + CHECKLIST_SUFFIX)


def load_checklist(article: Path) -> Checklist | None:
    """The checklist beside ``article``, or None when there is none."""
    path = checklist_path(article)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not a readable JSON checklist ({error})") from None
    return Checklist.from_json(data, str(path))


# --- the metrics ---------------------------------------------------------------------------


def _terms(text: str) -> tuple[set[str], set[str]]:
    """(numbers, content words): the rules of ``words.py``."""
    return numbers_in(text), content_words(text)


def unsupported_numbers(result: SummaryResult, article: str) -> list[str]:
    """Numbers in key-fact statements that do not occur in ``article``, in order of mention."""
    known = numbers_in(article)
    missing: list[str] = []
    for fact in result.summary.key_facts:
        for number in sorted(numbers_in(fact.statement) - known, key=fact.statement.find):
            if number not in missing:
                missing.append(number)
    return missing


def fact_covered(fact: str, key_facts: Sequence[KeyFact]) -> bool:
    """Does one key fact (statement and evidence together) cover the checklist ``fact``?"""
    numbers, words = _terms(fact)
    need = math.ceil(len(words) * 2 / 3)
    for key_fact in key_facts:
        have_numbers, have_words = _terms(" ".join([key_fact.statement, *key_fact.evidence]))
        if numbers <= have_numbers and len(words & have_words) >= need:
            return True
    return False


def _folded(text: str) -> str:
    return normalize(text).casefold().strip(" \"'.,;:!?")


def quote_matches(wanted: str, given: str) -> bool:
    """``given`` (a source quote) contains ``wanted``, or lies inside it covering half or more."""
    a, b = _folded(wanted), _folded(given)
    if not a or not b:
        return False
    return a in b or (b in a and 2 * len(b) >= len(a))


def speakers_match(wanted: str | None, given: str | None) -> bool:
    """The same person: the names share a word ("Mr. Amiri" and "Farid Ahmad Amiri")."""
    if wanted is None or given is None:
        return wanted is None and given is None
    return shares_a_name(wanted, given)


def first_answer_schema_valid(attempts: Sequence[Attempt]) -> bool | None:
    """Did the model's first answer meet the schema? None if no answer came at all.

    Read from each attempt's kind: ``grounding`` means the schema was met and only
    the checks failed. Results saved before kinds were split say ``validation``,
    which cannot tell the two apart: None.
    """
    for attempt in attempts:
        if attempt.kind in ("transport", "fatal"):
            continue
        if attempt.kind == "validation":
            return None
        return attempt.kind in ("ok", "grounding")
    return None


@dataclass(frozen=True)
class Rate:
    """``hit`` of ``total``; ``value`` is None when there was nothing to count."""

    hit: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hit / self.total if self.total else None

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.hit + other.hit, self.total + other.total)

    def __str__(self) -> str:
        return f"{self.hit}/{self.total}"

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        return {"hit": self.hit, "total": self.total, "rate": None if value is None else value}


def _grounded(check: GroundingCheck) -> Rate:
    return Rate(check.items - check.not_found, check.items)


@dataclass
class ArticleEval:
    """One article's figures; ``error`` is set (and most figures None) when it failed."""

    id: str
    ok: bool
    error: str | None = None
    cached: bool = False
    schema_valid_first: bool | None = None
    calls: int = 0
    grounded_first: Rate | None = None
    grounded_final: Rate | None = None
    numbers_not_in_article: list[str] = field(default_factory=list)
    fact_recall: Rate | None = None
    facts_missed: list[str] = field(default_factory=list)
    quote_recall: Rate | None = None
    quotes_attributed: Rate | None = None
    quotes_missed: list[str] = field(default_factory=list)
    party_recall: Rate | None = None
    facts: int | None = None
    quotes: int | None = None
    quotes_in_quotation_marks: Rate | None = None
    facts_supported: Rate | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    latency_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: each rate as ``{"hit", "total", "rate"}``."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = value.as_dict() if isinstance(value, Rate) else value
        return out


def evaluate(
    result: SummaryResult, article: str, checklist: Checklist | None = None, *, id: str = ""
) -> ArticleEval:
    """Every metric of the module docstring for one result of ``article``."""
    meta = result.meta
    report = ArticleEval(
        id=id,
        ok=True,
        cached=meta.cached,
        schema_valid_first=first_answer_schema_valid(meta.attempts),
        calls=getattr(meta, "calls", 0) or len(meta.attempts),  # chunks and merge included
        grounded_first=_grounded(meta.grounding[0]) if meta.grounding else None,
        grounded_final=_grounded(meta.grounding[-1]) if meta.grounding else None,
        numbers_not_in_article=unsupported_numbers(result, article),
        prompt_tokens=meta.usage.prompt_tokens,
        completion_tokens=meta.usage.completion_tokens,
        total_tokens=meta.usage.total_tokens,
        latency_s=meta.latency_s,
        facts=len(result.summary.key_facts),
        quotes=len(result.summary.source_quotes),
        quotes_in_quotation_marks=quotes_in_quotation_marks(result, article),
        facts_supported=facts_supported(result),
    )
    if checklist is not None:
        _score_checklist(report, result, checklist)
    return report


def quotes_in_quotation_marks(result: SummaryResult, article: str) -> Rate:
    """Source quotes that lie inside a direct quotation of ``article`` (rule A, passages.py)."""
    passages = find_passages(article, guess_language(article))
    quotes = result.summary.source_quotes
    inside = sum(
        1
        for q in quotes
        if q.span is not None
        and all(
            passages.inside_quotation(a, b) is not None
            for a, b in (q.span.fragments or [(q.span.start, q.span.end)])
        )
    )
    return Rate(inside, len(quotes))


def facts_supported(result: SummaryResult) -> Rate:
    """Key facts whose evidence says what the statement says (rules B and C of checks.py)."""
    facts = result.summary.key_facts
    return Rate(sum(support(f.statement, f.evidence).ok for f in facts), len(facts))


def _score_checklist(report: ArticleEval, result: SummaryResult, checklist: Checklist) -> None:
    summary = result.summary
    report.facts_missed = [f for f in checklist.facts if not fact_covered(f, summary.key_facts)]
    report.fact_recall = Rate(len(checklist.facts) - len(report.facts_missed), len(checklist.facts))
    found = attributed = 0
    for wanted in checklist.quotes:
        matches: list[SourceQuote] = [
            q for q in summary.source_quotes if quote_matches(wanted.text, q.text)
        ]
        if not matches:
            report.quotes_missed.append(wanted.text)
            continue
        found += 1
        attributed += any(speakers_match(wanted.speaker, q.speaker) for q in matches)
    report.quote_recall = Rate(found, len(checklist.quotes))
    report.quotes_attributed = Rate(attributed, found)
    if checklist.parties:
        named = [p.name for p in summary.parties] + [a for p in summary.parties for a in p.aliases]
        hit = sum(any(_same_party_name(want, n) for n in named) for want in checklist.parties)
        report.party_recall = Rate(hit, len(checklist.parties))


def _same_party_name(wanted: str, given: str) -> bool:
    """A checklist party is named when the names share a name word, or one holds the other."""
    a, b = _folded(wanted), _folded(given)
    return bool(a and b) and (a in b or b in a or shares_a_name(wanted, given))


def failed(id: str, error: SummarizerError) -> ArticleEval:
    """The row of an article that produced no result: the calls and tokens it still cost."""
    return ArticleEval(
        id=id,
        ok=False,
        error=str(error),
        schema_valid_first=first_answer_schema_valid(error.attempts),
        calls=len(error.attempts),
        prompt_tokens=error.usage.prompt_tokens if error.usage else None,
        completion_tokens=error.usage.completion_tokens if error.usage else None,
        total_tokens=error.usage.total_tokens if error.usage else None,
    )


# --- many articles -------------------------------------------------------------------------


def _pooled(rates: Iterable[Rate | None]) -> Rate | None:
    given = [r for r in rates if r is not None]
    return sum(given[1:], given[0]) if given else None


def _sum(values: Iterable[int | None]) -> int | None:
    listed = list(values)
    return None if any(v is None for v in listed) else sum(v for v in listed if v is not None)


def overall(reports: Sequence[ArticleEval]) -> dict[str, Any]:
    """Totals over articles: rates pooled (hits over totals), latency as a median."""
    done = [r for r in reports if r.ok]
    latencies = [r.latency_s for r in done if r.latency_s is not None]

    def rate(rates: Iterable[Rate | None]) -> dict[str, Any] | None:
        pooled = _pooled(rates)
        return None if pooled is None else pooled.as_dict()

    answered = [r.schema_valid_first for r in reports if r.schema_valid_first is not None]
    return {
        "articles": len(reports),
        "ok": len(done),
        "schema_valid_first": Rate(sum(answered), len(answered)).as_dict(),
        "calls": sum(r.calls for r in reports),
        "grounded_first": rate(r.grounded_first for r in reports),
        "grounded_final": rate(r.grounded_final for r in reports),
        "numbers_not_in_article": sum(len(r.numbers_not_in_article) for r in reports),
        "fact_recall": rate(r.fact_recall for r in reports),
        "quote_recall": rate(r.quote_recall for r in reports),
        "quotes_attributed": rate(r.quotes_attributed for r in reports),
        "party_recall": rate(r.party_recall for r in reports),
        "quotes_in_quotation_marks": rate(r.quotes_in_quotation_marks for r in reports),
        "facts_supported": rate(r.facts_supported for r in reports),
        "empty": sum(1 for r in done if not r.facts),
        "facts_median": _median([r.facts for r in done]),
        "quotes_median": _median([r.quotes for r in done]),
        "calls_median": _median([r.calls for r in reports]),
        "completion_tokens_median": _median([r.completion_tokens for r in done]),
        "prompt_tokens": _sum(r.prompt_tokens for r in reports),
        "completion_tokens": _sum(r.completion_tokens for r in reports),
        "total_tokens": _sum(r.total_tokens for r in reports),
        "latency_s_median": statistics.median(latencies) if latencies else None,
        "latency_s_total": round(sum(latencies), 3),
    }


def _median(values: Sequence[int | float | None]) -> float | None:
    given = [v for v in values if v is not None]
    return statistics.median(given) if given else None


def as_json(reports: Sequence[ArticleEval]) -> dict[str, Any]:
    """What ``summarizer eval --json`` prints."""
    return {"articles": [r.as_dict() for r in reports], "overall": overall(reports)}


_COLUMNS = (
    "article",
    "ok",
    "calls",
    "facts",
    "fact recall",
    "supported",
    "quotes",
    "quote recall",
    "in quotes",
    "attributed",
    "parties",
    "out tokens",
    "latency",
)


def _rate(rate: Rate | dict[str, Any] | None) -> str:
    if isinstance(rate, dict):
        rate = Rate(rate["hit"], rate["total"])
    if rate is None or rate.value is None:
        return "-"
    return f"{rate} ({rate.value:.0%})"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _row(report: ArticleEval) -> list[str]:
    row = [
        report.id,
        "yes" if report.ok else "FAILED",
        str(report.calls),
        "-" if report.facts is None else str(report.facts),
        _rate(report.fact_recall),
        _rate(report.facts_supported),
        "-" if report.quotes is None else str(report.quotes),
        _rate(report.quote_recall),
        _rate(report.quotes_in_quotation_marks),
        _rate(report.quotes_attributed),
        _rate(report.party_recall),
        _count(report.completion_tokens),
        "-" if report.latency_s is None else f"{report.latency_s:.1f} s",
    ]
    if report.cached:  # no call was made: tokens and latency are the stored run's
        row[-1] += " (cached)"
    return row


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def format_table(reports: Sequence[ArticleEval]) -> str:
    """A plain-text table: one row per article, then the overall row, then any errors.

    The overall row pools rates (hits over totals) and gives medians of counts.
    """
    total = overall(reports)
    median = total["latency_s_median"]
    last = [
        f"overall ({total['articles']})",
        f"{total['ok']}/{total['articles']}",
        f"{_number(total['calls_median'])} median",
        f"{_number(total['facts_median'])} median",
        _rate(total["fact_recall"]),
        _rate(total["facts_supported"]),
        f"{_number(total['quotes_median'])} median",
        _rate(total["quote_recall"]),
        _rate(total["quotes_in_quotation_marks"]),
        _rate(total["quotes_attributed"]),
        _rate(total["party_recall"]),
        f"{_number(total['completion_tokens_median'])} median",
        "-" if median is None else f"{median:.1f} s median",
    ]
    rows = [list(_COLUMNS), *(_row(r) for r in reports), last]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    rule = "  ".join("-" * w for w in widths)
    lines[1:1] = [rule]
    lines[-1:-1] = [rule]
    empty = total["empty"]
    lines.append(
        f"empty summaries: {empty}; numbers not in the article: {total['numbers_not_in_article']}"
    )
    for report in reports:
        if report.error:
            lines.append(f"{report.id}: {report.error}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def run_eval(
    paths: Sequence[str | Path],
    settings: Any,
    *,
    on_article: Callable[[ArticleEval], None] | None = None,
) -> list[ArticleEval]:
    """Summarize each article named by ``paths`` (files, directories or URLs, read as
    ``batch`` reads them: HTML extracted, URLs fetched), one at a time on one endpoint,
    and evaluate it against its checklist if it has one."""
    from summarizer.batch import discover
    from summarizer.pipeline import endpoint, summarize

    items = discover(paths)
    checklists: dict[str, Checklist] = {}
    for item in items:  # a bad checklist is refused before any call is paid for
        checklist = load_checklist(item.path) if item.path is not None else None
        if checklist is not None and item.path is not None:
            try:
                text = item.load(settings.max_input_bytes, settings).text
            except SummarizerError:
                continue  # the article's own row says why
            checklist.check_against(text, str(checklist_path(item.path)))
            checklists[item.id] = checklist
    reports: list[ArticleEval] = []
    with endpoint(settings) as live:
        for item in items:
            try:
                article = item.load(settings.max_input_bytes, settings)
                result = summarize(article, settings=live)
            except SummarizerError as error:
                report = failed(item.id, error)
            else:
                report = evaluate(result, article.text, checklists.get(item.id), id=item.id)
            reports.append(report)
            if on_article is not None:
                on_article(report)
    return reports
