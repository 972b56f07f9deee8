"""Re-check a saved summary against its article, trusting nothing it says about offsets.

A summary may have been edited, produced by another tool, or paired with the
wrong article: every quote, evidence passage and speaker is located again and
compared with the offsets the summary recorded. Give it the article as it was
given to ``summarize``: offsets point there, even when the model saw a cleaned copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from summarizer.errors import InputError
from summarizer.grounding import SourceIndex
from summarizer.schema import ArticleSummary, Span, SummaryResult

__all__ = ["Check", "parse_result", "parse_saved", "verify_summary"]

Status = Literal["ok", "moved", "not_found"]


@dataclass(frozen=True)
class Check:
    """The verdict on one item: where it was recorded and where it really is."""

    path: str
    text: str
    status: Status
    recorded: tuple[int, int] | None
    found: tuple[int, int] | None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _json(data: str, source: str) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"


def parse_saved(data: str, source: str = "summary") -> tuple[ArticleSummary, str | None]:
    """A saved SummaryResult or bare ArticleSummary; returns it and the recorded article hash."""
    raw = _json(data, source)
    try:
        if isinstance(raw, dict) and "summary" in raw and "meta" in raw:
            result = SummaryResult.model_validate(raw)
            return result.summary, result.meta.article_sha256
        return ArticleSummary.model_validate(raw), None
    except ValidationError as exc:
        raise InputError(
            f"{source}: not a summary ({_first_problem(exc)}; {exc.error_count()} problem(s))"
        ) from None


def parse_result(data: str, source: str = "result") -> SummaryResult:
    """A whole saved SummaryResult (summarize's JSON, or a batch line holding one)."""
    raw = _json(data, source)
    if isinstance(raw, dict) and isinstance(raw.get("result"), dict):
        raw = raw["result"]  # a line of batch output
    try:
        return SummaryResult.model_validate(raw)
    except ValidationError as exc:
        raise InputError(
            f"{source}: not a whole result with its meta ({_first_problem(exc)}); "
            "save summarize's --format json output"
        ) from None


def _check(index: SourceIndex, path: str, text: str, span: Span | None) -> Check:
    located = index.locate(text)
    found = (located.start, located.end) if located else None
    recorded = (span.start, span.end) if span else None
    if found is None:
        status: Status = "not_found"
    elif recorded is not None and recorded != found:
        status = "moved"
    else:
        status = "ok"
    return Check(path, text, status, recorded, found)


def verify_summary(summary: ArticleSummary, text: str) -> list[Check]:
    """One check per evidence passage, quote and speaker, in document order."""
    index = SourceIndex(text)
    checks = []
    for i, fact in enumerate(summary.key_facts):
        for j, passage in enumerate(fact.evidence):
            span = fact.evidence_spans[j] if j < len(fact.evidence_spans) else None
            checks.append(_check(index, f"key_facts[{i}].evidence[{j}]", passage, span))
    for i, quote in enumerate(summary.source_quotes):
        checks.append(_check(index, f"source_quotes[{i}].text", quote.text, quote.span))
        if quote.speaker is not None:
            located = index.locate(quote.speaker, ignore_case=True)
            found = (located.start, located.end) if located else None
            status: Status = "ok" if located else "not_found"
            checks.append(Check(f"source_quotes[{i}].speaker", quote.speaker, status, None, found))
    return checks
