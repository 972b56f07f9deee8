"""What a person sees: a result as JSON, Markdown or plain text. Nothing imports this but cli."""

from __future__ import annotations

from typing import Literal

from summarizer.schema import SummaryResult, Usage

__all__ = ["FORMATS", "Format", "render"]

Format = Literal["json", "markdown", "text"]
FORMATS: tuple[Format, ...] = ("json", "markdown", "text")


def _usage_line(usage: Usage) -> str:
    def show(n: int | None) -> str:
        return "unknown" if n is None else f"{n:,}"

    return f"{show(usage.prompt_tokens)} prompt + {show(usage.completion_tokens)} completion tokens"


def _made_by(result: SummaryResult) -> str:
    meta = result.meta
    return (
        f"{meta.model} at {meta.endpoint}, prompt {meta.prompt.name}@{meta.prompt.version} "
        f"({meta.prompt.sha256[:12]}), {len(meta.attempts)} call(s), "
        f"{_usage_line(meta.usage)}, {meta.latency_s:.1f} s"
    )


def _span(start: int, end: int) -> str:
    return f"[{start}:{end}]"


def render_markdown(result: SummaryResult) -> str:
    s = result.summary
    out = [f"# {s.headline}", "", "## Key facts", ""]
    for fact in s.key_facts:
        out.append(f"- {fact.statement}")
        for passage, span in zip(fact.evidence, fact.evidence_spans, strict=False):
            where = f" {_span(span.start, span.end)}" if span else ""
            out.append(f"  - > {passage}{where}")
    if s.parties:
        out += ["", "## Parties", ""]
        out += [f"- **{p.name}** ({p.kind}): {p.role}" for p in s.parties]
    if s.open_questions:
        out += ["", "## Open questions", ""]
        out += [f"- {q}" for q in s.open_questions]
    if s.source_quotes:
        out += ["", "## Quotes", ""]
        for quote in s.source_quotes:
            who = quote.speaker or "unattributed"
            where = f" {_span(quote.span.start, quote.span.end)}" if quote.span else ""
            out.append(f'- "{quote.text}" — {who}{where}')
    if result.meta.warnings:
        out += ["", "## Warnings", ""]
        out += [f"- {w}" for w in result.meta.warnings]
    out += ["", f"_{_made_by(result)}_", ""]
    return "\n".join(out)


def render_text(result: SummaryResult) -> str:
    s = result.summary
    out = [s.headline, "=" * min(len(s.headline), 80), "", "Key facts:"]
    for fact in s.key_facts:
        spans = fact.evidence_spans
        if fact.evidence == [fact.statement] and spans and spans[0]:
            # summarize@2: the fact is the article's sentence itself; say where it stands
            out.append(f"  * {fact.statement} {_span(spans[0].start, spans[0].end)}")
            continue
        out.append(f"  * {fact.statement}")
        for passage, span in zip(fact.evidence, spans, strict=False):
            where = f" {_span(span.start, span.end)}" if span else ""
            shown = passage if len(passage) <= 100 else passage[:97] + "..."
            out.append(f"      > {shown}{where}")
    if s.parties:
        out += ["", "Parties:"]
        out += [f"  * {p.name} ({p.kind}): {p.role}" for p in s.parties]
    if s.open_questions:
        out += ["", "Open questions:"]
        out += [f"  * {q}" for q in s.open_questions]
    if s.source_quotes:
        out += ["", "Quotes:"]
        for quote in s.source_quotes:
            where = f" {_span(quote.span.start, quote.span.end)}" if quote.span else ""
            out.append(f'  * "{quote.text}" ({quote.speaker or "unattributed"}){where}')
    if result.meta.warnings:
        out += ["", "Warnings:"]
        out += [f"  ! {w}" for w in result.meta.warnings]
    out += ["", _made_by(result), ""]
    return "\n".join(out)


def render(result: SummaryResult, fmt: Format) -> str:
    if fmt == "json":
        return result.model_dump_json(indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(result)
    return render_text(result)
