"""The main text, title, author and date of an HTML page, with trafilatura (the ``html`` extra).

trafilatura is imported on first use; without it the error says what to install.
Its text has one line per block (paragraph, heading, list item); blocks are
joined with a blank line here, so that long pages split between paragraphs.
"""

from __future__ import annotations

import logging
from typing import Any

from summarizer.article import Article
from summarizer.errors import ConfigError, InputError

__all__ = ["HTML_EXTRA_HINT", "extract_html", "looks_like_html", "require_html_extra"]

HTML_EXTRA_HINT = "pip install 'summarizer[html]'"
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


def require_html_extra() -> Any:
    """The trafilatura module, or a ConfigError (exit 2) naming the extra to install."""
    try:
        import trafilatura
    except ImportError as error:
        if error.name == "trafilatura":
            why = "which is not installed"
        else:  # installed, but something it imports is missing or broken: say what
            missing = f" (module {error.name})" if error.name else ""
            why = f"which failed to import: {' '.join(str(error).split())}{missing}"
        raise ConfigError(f"reading HTML needs trafilatura, {why}: {HTML_EXTRA_HINT}") from None
    # It logs every page it finds little text in at WARNING; we say so ourselves.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    return trafilatura


def looks_like_html(data: bytes) -> bool:
    """An HTML document, by its first non-blank bytes (a byte-order mark allowed)."""
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(_HTML_STARTS) and b"<html" in data[:4096].lower()


def extract_html(
    html: bytes | str,
    *,
    source: str,
    url: str | None = None,
    max_bytes: int | None = None,
) -> Article:
    """The article in an HTML page: main text (boilerplate left out by trafilatura),
    title, author and date. Bytes are decoded as the page declares (trafilatura's
    detection); an :class:`InputError` when the page has no article text."""
    trafilatura = require_html_extra()
    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        favor_precision=True,
    )
    text = getattr(document, "text", None) if document is not None else None
    if not text or not text.strip():
        raise InputError(f"{source}: no article text found in this HTML page")
    blocks = [line.strip() for line in text.splitlines() if line.strip()]
    article = Article.from_text("\n\n".join(blocks) + "\n", source=source, max_bytes=max_bytes)

    def field(name: str) -> str | None:
        value = getattr(document, name, None)
        return str(value).strip() or None if value else None

    return Article(
        text=article.text,
        source=source,
        title=field("title"),
        kind="url" if url else "html",
        url=url,
        author=field("author"),
        date=field("date"),
    )
