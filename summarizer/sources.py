"""From what a user names to an :class:`~summarizer.article.Article`: a text file, ``-``
for stdin, an HTML file or an ``http(s)://`` URL.

* An ``http://`` or ``https://`` URL is fetched (:mod:`summarizer.fetch`); an HTML
  page is extracted (:mod:`summarizer.extract`), a ``text/plain`` one decoded.
* A file or stdin whose bytes start like an HTML document (``<!doctype html``,
  ``<html``) is extracted, whatever its name; an ``.html``/``.htm`` file may be up to
  ``fetch_max_bytes`` (pages are bigger than their text), other files up to
  ``max_input_bytes``. The extracted text must then fit ``max_input_bytes``.
* Anything else is UTF-8 text, read as :func:`~summarizer.article.load_article` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from summarizer.article import Article, article_from_bytes, read_article_bytes
from summarizer.errors import InputError
from summarizer.extract import extract_html, looks_like_html
from summarizer.fetch import fetch_url, is_url
from summarizer.settings import Settings

__all__ = ["HTML_SUFFIXES", "load_source"]

HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def _decode(data: bytes, charset: str | None, source: str) -> str | bytes:
    """Text in the declared charset, or the bytes for trafilatura to work out."""
    if not charset:
        return data
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return data


def load_source(spec: str, settings: Settings, *, stdin: BinaryIO | None = None) -> Article:
    """The article that ``spec`` names; every failure is an InputError or ConfigError."""
    limit = settings.max_input_bytes
    if is_url(spec):
        fetched = fetch_url(
            spec, timeout=settings.fetch_timeout, max_bytes=settings.fetch_max_bytes
        )
        if fetched.is_html:
            page = _decode(fetched.data, fetched.charset, spec)
            return extract_html(page, source=spec, url=fetched.url, max_bytes=limit)
        charset = (fetched.charset or "utf-8").lower()
        if charset.replace("-", "") in ("utf8", "ascii", "usascii"):
            article = article_from_bytes(fetched.data, source=spec, max_bytes=limit)
        else:
            try:
                text = fetched.data.decode(charset)
            except (LookupError, UnicodeDecodeError) as exc:
                raise InputError(f"{spec}: not {charset} text as declared ({exc})") from None
            article = Article.from_text(text, source=spec, max_bytes=limit)
        return Article(text=article.text, source=spec, kind="url", url=fetched.url)
    html_file = spec != "-" and Path(spec).suffix.lower() in HTML_SUFFIXES
    cap = max(limit, settings.fetch_max_bytes) if html_file else limit
    data = read_article_bytes(spec, max_bytes=cap, stdin=stdin)
    source = "stdin" if spec == "-" else spec
    if html_file or looks_like_html(data):
        return extract_html(data, source=source, max_bytes=limit)
    return article_from_bytes(data, source=source, max_bytes=limit)
