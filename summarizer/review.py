"""The review page: the article as given, with every fact's evidence and every quote
highlighted at its offsets, and what was dropped or changed beside it, with why.

One self-contained HTML file (no CDN, no framework, a few lines of inline
script). Nothing imports this but cli.

The article is text, never markup: every string that reaches the page (the
article, the model's words, the warnings, the file names) goes through
:func:`html.escape`. As a second wall, the page's Content-Security-Policy lets
only its own script run (by hash) and loads nothing from anywhere.
"""

from __future__ import annotations

import ast
import base64
import functools
import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from summarizer.fetch import is_url
from summarizer.schema import Span, SummaryResult

if TYPE_CHECKING:
    from summarizer.settings import Settings

__all__ = ["ReportEntry", "read_results", "recheck", "report_page", "report_pages", "review_page"]

COLOURS = 8
"""Fact colours before they repeat (CSS classes c1..c8)."""


@dataclass(frozen=True)
class ReportEntry:
    """One article of a batch report: its result or its error, and its text if found."""

    id: str
    source: str
    result: SummaryResult | None = None
    error: str | None = None
    article: str | None = None
    notes: Sequence[str] = ()
    """Why the article is not shown, or what re-checking it found."""


@dataclass
class _Mark:
    """One highlighted item: a fact's evidence passage, a quote, a dropped item, or text
    that cleaning removed."""

    ref: str
    kind: str  # "fact", "quote", "dropped" (where a dropped item stands) or "removed"
    label: str
    pieces: list[tuple[int, int]]
    fact: int | None = None
    quote: int | None = None


@dataclass
class _Page:
    """What one article's section is made of, before it is written out."""

    prefix: str
    marks: list[_Mark] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _placed(span: Span | None, words: str, article: str) -> list[tuple[int, int]] | None:
    """The pieces of ``span`` if they stand in ``article`` with ``words`` there, else None.

    A span cut by cleaning (``fragments``) goes around removed lines, so only its
    bounds can be checked.
    """
    if span is None:
        return None
    pieces = [(a, b) for a, b in span.fragments or [(span.start, span.end)]]
    if not pieces or any(not 0 <= a < b <= len(article) for a, b in pieces):
        return None
    if not span.fragments and article[span.start : span.end] != words:
        return None
    return pieces


def _collect(result: SummaryResult, article: str, prefix: str) -> _Page:
    """Every span of the result that stands where it says; the rest become problems."""
    page = _Page(prefix)
    summary = result.summary
    for i, fact in enumerate(summary.key_facts, start=1):
        for j, (passage, span) in enumerate(
            zip(fact.evidence, fact.evidence_spans, strict=False), start=1
        ):
            where = f"key fact {i}, evidence {j}"
            pieces = _placed(span, passage, article)
            if pieces is None:
                page.problems.append(f"{where} is not at its offsets in this text: {passage!r}")
                continue
            label = f"Fact {i}: {fact.statement}"
            page.marks.append(_Mark(f"f{i}e{j}", "fact", label, pieces, fact=i))
    for i, quote in enumerate(summary.source_quotes, start=1):
        pieces = _placed(quote.span, quote.text, article)
        if pieces is None:
            page.problems.append(f"quote {i} is not at its offsets in this text: {quote.text!r}")
            continue
        label = f"Quote {i}, {quote.speaker or 'speaker not named'}"
        page.marks.append(_Mark(f"q{i}", "quote", label, pieces, quote=i))
    for k, warning in enumerate(result.meta.warnings, start=1):
        at = _dropped_at(warning, article) if _tag(warning) == "dropped" else None
        if at is not None:
            page.marks.append(_Mark(f"w{k}", "dropped", f"Dropped: {warning}", [at]))
    if result.meta.cleaning is not None:
        for k, removed in enumerate(result.meta.cleaning.removed, start=1):
            if 0 <= removed.start < removed.end <= len(article):
                label = f"Removed before the model read it: {removed.reason}"
                page.marks.append(_Mark(f"r{k}", "removed", label, [(removed.start, removed.end)]))
    return page


def _article_html(article: str, page: _Page) -> str:
    """The text cut at every highlight's edge; each cut piece is one escaped element.

    Highlights overlap (a quote inside a fact's sentence, two facts citing one
    sentence), so the text is split where any of them starts or ends, and each
    piece names every item that covers it. Each element's ``data-start`` and
    ``data-end`` are offsets in the article, and its text is exactly what stands there.
    """
    bounds = {0, len(article)}
    for mark in page.marks:
        for a, b in mark.pieces:
            bounds.update((a, b))
    edges = sorted(bounds)
    first: set[str] = set()
    out: list[str] = []
    for a, b in itertools.pairwise(edges):
        text = _e(article[a:b])
        over = [m for m in page.marks if any(p <= a and b <= q for p, q in m.pieces)]
        if not over:
            out.append(text)
            continue
        removed = [m for m in over if m.kind == "removed"]
        if removed:
            out.append(
                f'<span class="removed" data-start="{a}" data-end="{b}" '
                f'title="{_e(removed[0].label)}">{text}</span>'
            )
            continue
        facts = sorted({m.fact for m in over if m.fact is not None})
        quotes = sorted({m.quote for m in over if m.quote is not None})
        classes = ["hl"]
        if facts:
            classes.append(f"c{(facts[0] - 1) % COLOURS + 1}")
        if len(facts) > 1:
            classes.append("multi")
        if quotes:
            classes.append("quote")
        if any(m.kind == "dropped" for m in over):
            classes.append("dropped")
        starting = [m.ref for m in over if m.ref not in first]  # where links to them land
        first.update(starting)
        ids = f' id="{page.prefix}{starting[0]}"' if starting else ""
        out += [f'<span class="anchor" id="{page.prefix}{ref}"></span>' for ref in starting[1:]]
        title = "\n".join(dict.fromkeys(m.label for m in over))
        out.append(
            f'<mark class="{" ".join(classes)}"{ids} data-start="{a}" data-end="{b}" '
            f'data-refs="{" ".join(m.ref for m in over)}" '
            f'data-facts="{" ".join(map(str, facts))}" title="{_e(title)}">{text}</mark>'
        )
    return "".join(out)


_TAGS = (
    ("dropped", re.compile(r"\bdropped\b")),
    ("changed", re.compile(r"speaker removed|re-cited|\bmoved\b|renamed")),
    ("stand-in", re.compile(r"stands in|kept the \d+ best")),
)


_QUOTED = re.compile(r""":\s(?P<text>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")$""")


def _dropped_at(warning: str, article: str) -> tuple[int, int] | None:
    """Where the words a warning quotes stand in the article, if they stand there once.

    A dropped item's warning ends with its words as a Python literal (checks.py),
    cut to a prefix and "..." when long; words the article does not hold (an
    invented quote) are not drawn.
    """
    match = _QUOTED.search(warning)
    if match is None:
        return None
    try:
        words = ast.literal_eval(match["text"])
    except (ValueError, SyntaxError):
        return None
    if not isinstance(words, str):
        return None
    words = words.removesuffix("...")
    at = article.find(words)
    if len(words) < 12 or at < 0 or article.find(words, at + 1) >= 0:
        return None
    return at, at + len(words)


def _tag(warning: str) -> str:
    for tag, pattern in _TAGS:
        if pattern.search(warning):
            return tag
    return "note"


def _side(result: SummaryResult, page: _Page, notes: Iterable[str]) -> str:
    """The summary beside the text: facts, then what was dropped or changed and why, then
    quotes, parties and questions."""
    p = page.prefix
    summary = result.summary
    shown = {m.ref for m in page.marks}
    out = ['<section class="facts"><h2>Key facts</h2><ol>']
    for i, fact in enumerate(summary.key_facts, start=1):
        links = []
        for j, span in enumerate(fact.evidence_spans, start=1):
            if f"f{i}e{j}" in shown and span is not None:
                links.append(f'<a href="#{p}f{i}e{j}">[{span.start}:{span.end}]</a>')
        evidence = ""
        if fact.evidence != [fact.statement]:
            evidence = "".join(
                f'<blockquote class="evidence">{_e(passage)}</blockquote>'
                for passage in fact.evidence
            )
        ids = fact.sentence_ids or []
        cited = f' <span class="ids">sentence {", ".join(map(str, ids))}</span>' if ids else ""
        out.append(
            f'<li class="fact c{(i - 1) % COLOURS + 1}" id="{p}fact-{i}" data-fact="{i}" '
            f'tabindex="0"><span class="swatch"></span>{_e(fact.statement)} '
            f'<span class="where">{" ".join(links)}</span>'
            f"{cited}{evidence}</li>"
        )
    out.append("</ol></section>")
    problems = [("not checked", n) for n in notes] + [("not shown", n) for n in page.problems]
    warnings = [(_tag(w), w, f"w{k}") for k, w in enumerate(result.meta.warnings, start=1)]
    listed = [(tag, text, "") for tag, text in problems] + warnings
    out.append(
        f'<section class="warnings"><h2>Dropped, changed and warnings '
        f'<span class="count">{len(listed)}</span></h2>'
    )
    if listed:
        out.append("<ul>")
        for tag, text, ref in listed:
            where = f' <a href="#{p}{ref}">where</a>' if ref in shown else ""
            out.append(
                f'<li class="{_e(tag.replace(" ", "-"))}"><span class="tag">{_e(tag)}</span> '
                f"{_e(text)}{where}</li>"
            )
        out.append("</ul>")
    else:
        out.append('<p class="none">Nothing was dropped or changed; no warnings.</p>')
    out.append("</section>")
    if summary.source_quotes:
        out.append('<section class="quotes"><h2>Quotes</h2><ul>')
        for i, quote in enumerate(summary.source_quotes, start=1):
            who = (
                f'<span class="speaker">{_e(quote.speaker)}</span>'
                if quote.speaker
                else '<span class="speaker none">speaker not named</span>'
            )
            where = (
                f' <a href="#{p}q{i}">[{quote.span.start}:{quote.span.end}]</a>'
                if f"q{i}" in shown and quote.span is not None
                else ""
            )
            out.append(f"<li>&ldquo;{_e(quote.text)}&rdquo; &mdash; {who}{where}</li>")
        out.append("</ul></section>")
    if summary.parties:
        out.append('<section class="parties"><h2>Parties</h2><ul>')
        out += [
            f"<li><strong>{_e(party.name)}</strong> <span class=kind>{_e(party.kind)}</span>: "
            f"{_e(party.role)}</li>"
            for party in summary.parties
        ]
        out.append("</ul></section>")
    if summary.open_questions:
        out.append('<section class="questions"><h2>Open questions</h2><ul>')
        out += [f"<li>{_e(q)}</li>" for q in summary.open_questions]
        out.append("</ul></section>")
    return "".join(out)


def _cost(result: SummaryResult) -> str:
    cost = result.meta.cost_usd
    if cost is None:
        return "cost unknown (no price for this model)"
    return f"${cost:.6f}"


def _footer(result: SummaryResult) -> str:
    meta = result.meta
    usage = meta.usage

    def n(value: int | None) -> str:
        return "?" if value is None else f"{value:,}"

    items = [
        f"model <strong>{_e(meta.model)}</strong> at {_e(meta.endpoint)} ({_e(meta.mode)})",
        f"prompt <strong>{_e(meta.prompt.name)}@{meta.prompt.version}</strong> "
        f'<code title="sha256 {_e(meta.prompt.sha256)}">{_e(meta.prompt.sha256[:12])}</code>',
        f"{meta.calls} call(s)",
        f"{n(usage.prompt_tokens)} prompt + {n(usage.completion_tokens)} completion tokens",
        _e(_cost(result)),
        f"{meta.latency_s:.1f} s" + (" (cached)" if meta.cached else ""),
        f"summarizer {_e(meta.summarizer_version)}, {_e(meta.created_at.isoformat())}",
    ]
    return "<footer>" + " &middot; ".join(f"<span>{item}</span>" for item in items) + "</footer>"


def _section(
    result: SummaryResult, article: str | None, prefix: str, notes: Sequence[str] = ()
) -> str:
    """One article: header, the text with its highlights, the side panel, the footer."""
    summary = result.summary
    if article is not None:
        page = _collect(result, article, prefix)
        text = f'<div class="text">{_article_html(article, page)}</div>'
    else:
        page = _Page(prefix)
        text = '<p class="none">The article text is not available; offsets are not shown.</p>'
    meta = result.meta
    source = meta.source.url or meta.source.title if meta.source else None
    counts = (
        f"{len(summary.key_facts)} key fact(s), {len(summary.source_quotes)} quote(s), "
        f"{len(meta.warnings)} warning(s)"
    )
    return (
        f'<section class="review" id="{prefix}review">'
        f"<header><h1>{_e(summary.headline)}</h1>"
        f'<p class="sub">{_e(source) + " &middot; " if source else ""}{counts}</p></header>'
        f'<div class="grid"><article aria-label="The article, as given">'
        f"<h2>Article</h2>{text}</article>"
        f'<aside aria-label="The summary">{_side(result, page, notes)}</aside></div>'
        f"{_footer(result)}</section>"
    )


@functools.cache
def _asset(name: str) -> str:
    return resources.files("summarizer").joinpath(name).read_text("utf-8")


def _document(title: str, body: str) -> str:
    """The page around ``body``: its style, its one script, and a policy that allows no other."""
    css, js = _asset("review.css"), _asset("review.js")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="summarizer">'
        f"<title>{_e(title)}</title><style>{css}</style></head>"
        f"<body>{body}<script>{js}</script></body></html>\n"
    )


def review_page(result: SummaryResult, article: str | None, notes: Sequence[str] = ()) -> str:
    """The review page of one result; ``article`` is the text as given to summarize.

    ``notes`` go to the side panel first: what re-checking found (``summarizer view``).
    Offsets that do not point at their words in ``article`` are listed there, not drawn.
    """
    title = f"Review: {result.summary.headline}"
    return _document(title, _section(result, article, "", notes))


def _entry_section(entry: ReportEntry, prefix: str) -> str:
    if entry.result is None:
        return (
            f'<section class="review" id="{prefix}review"><header><h1>{_e(entry.id)}</h1>'
            f'<p class="sub">{_e(entry.source)}</p></header>'
            f'<p class="failed">Failed: {_e(entry.error or "no result")}</p></section>'
        )
    return _section(entry.result, entry.article, prefix, entry.notes)


def _index(entries: Sequence[ReportEntry], title: str, links: Sequence[str]) -> str:
    """The table of a batch: one row per article, linking to ``links[i]``."""
    ok = sum(1 for e in entries if e.result is not None)
    warned = sum(1 for e in entries if e.result is not None and e.result.meta.warnings)
    rows = []
    for entry, link in zip(entries, links, strict=True):
        name = f'<a href="{_e(link)}">{_e(entry.id)}</a>'
        if entry.result is None:
            rows.append(
                f'<tr class="failed"><td>{name}</td>'
                f"<td>failed</td><td colspan=4>{_e(entry.error or 'no result')}</td></tr>"
            )
            continue
        summary, meta = entry.result.summary, entry.result.meta
        rows.append(
            f"<tr><td>{name}</td><td>ok</td><td>{len(summary.key_facts)}</td>"
            f"<td>{len(summary.source_quotes)}</td><td>{len(meta.warnings)}</td>"
            f"<td>{_e(summary.headline)}</td></tr>"
        )
    return (
        f'<section class="review" id="index"><header><h1>{_e(title)}</h1>'
        f'<p class="sub">{len(entries)} article(s): {ok} ok, {len(entries) - ok} failed, '
        f"{warned} with warnings</p></header>"
        '<table class="index"><thead><tr><th>id</th><th>status</th><th>facts</th>'
        "<th>quotes</th><th>warnings</th><th>headline or error</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def report_page(entries: Sequence[ReportEntry], title: str = "Batch report") -> str:
    """One page for a batch: an index with ok, failed and warning counts, then a section
    per article (its review, or its error)."""
    prefixes = [f"a{number}-" for number in range(1, len(entries) + 1)]
    index = _index(entries, title, [f"#{p}review" for p in prefixes])
    sections = [_entry_section(e, p) for e, p in zip(entries, prefixes, strict=True)]
    return _document(title, index + "".join(sections))


def report_pages(entries: Sequence[ReportEntry], title: str = "Batch report") -> dict[str, str]:
    """A page per article and ``index.html`` linking to them, by file name: for a batch
    too large for one page (each page holds its article's text)."""
    names = [f"{number:05}-{_slug(e.id)}.html" for number, e in enumerate(entries, start=1)]
    back = '<p class="sub"><a href="index.html">&larr; the batch</a></p>'
    pages = {
        name: _document(f"Review: {entry.id}", back + _entry_section(entry, ""))
        for name, entry in zip(names, entries, strict=True)
    }
    pages["index.html"] = _document(title, _index(entries, title, names))
    return pages


def _slug(text: str) -> str:
    """A file name's worth of an article id: letters, digits and dashes."""
    name = Path(text).stem if "/" in text or "." in text else text
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:60] or "article"


def recheck(result: SummaryResult, article: str) -> list[str]:
    """What ``summarizer verify`` finds wrong with ``result`` on ``article``, one line each."""
    from summarizer.verify import verify_summary

    notes = []
    if result.meta.article_sha256 != hashlib.sha256(article.encode("utf-8")).hexdigest():
        notes.append("this is not the article text the summary was made from (sha256 differs)")
    for check in verify_summary(result.summary, article):
        if not check.ok:
            where = f" (found at [{check.found[0]}:{check.found[1]}])" if check.found else ""
            notes.append(f"{check.path} {check.status.replace('_', ' ')}{where}: {check.text!r}")
    return notes


def read_results(path: Path, settings: Settings, *, fetch: bool = False) -> list[ReportEntry]:
    """The lines of a ``summarizer batch`` output file, each with its article if it can be
    read again from where it came (a file, a line of an input JSONL, or with ``fetch``
    a URL) and re-checked as ``view`` does."""
    import json

    from summarizer.errors import InputError, SummarizerError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    entries = []
    inputs: dict[str, list[str]] = {}  # each input .jsonl read once, not once an article
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            ident, source = str(record["id"]), str(record.get("source", record["id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{number}: not a line of `summarizer batch` output") from None
        if not record.get("ok"):
            error = record.get("error") or {}
            message = error.get("message") if isinstance(error, dict) else str(error)
            entries.append(ReportEntry(ident, source, error=message or "failed"))
            continue
        try:
            result = SummaryResult.model_validate(record["result"])
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path}:{number}: not a summarizer result ({exc})") from None
        try:
            article = _article_of(source, settings, fetch=fetch, inputs=inputs)
        except SummarizerError as error:
            entries.append(
                ReportEntry(ident, source, result, notes=[f"article not shown: {error}"])
            )
            continue
        if article is None:
            why = "a URL (give --fetch to fetch it)" if is_url(source) else "not a file here"
            note = f"article not shown: {source} is {why}"
            entries.append(ReportEntry(ident, source, result, notes=[note]))
            continue
        entries.append(
            ReportEntry(ident, source, result, article=article, notes=recheck(result, article))
        )
    return entries


def _article_of(
    source: str, settings: Settings, *, fetch: bool, inputs: dict[str, list[str]]
) -> str | None:
    """The text ``source`` names, as summarize read it; None if it names nothing here.

    ``inputs`` keeps the lines of each input .jsonl already read."""
    import json

    from summarizer.sources import load_source

    if is_url(source):
        return load_source(source, settings).text if fetch else None
    match = re.fullmatch(r"(.+\.jsonl):(\d+)", source)
    if match and Path(match[1]).is_file():
        if match[1] not in inputs:
            raw = Path(match[1]).read_text(encoding="utf-8", errors="replace")
            inputs[match[1]] = raw.splitlines()
        given = inputs[match[1]]
        number = int(match[2])
        if not 1 <= number <= len(given):
            return None
        text = json.loads(given[number - 1]).get("text")
        return text if isinstance(text, str) else None
    if not Path(source).is_file():
        return None
    return load_source(source, settings).text
