"""Download one article page with httpx: a timeout, a size cap and a content-type check.

Every way a download can fail is an :class:`~summarizer.errors.InputError` (exit
code 3, like any input that cannot be used) with its own one-line message:

========================  ===================================================================
failure                   message (after ``<url>: ``)
========================  ===================================================================
not http(s)               ``only http:// and https:// URLs can be fetched``
cannot connect            ``cannot connect (<reason>)``
no answer in time         ``no answer within 30 s (fetch_timeout)``
HTTP error                ``HTTP 404 Not Found``
too many redirects        ``more than 5 redirects``
wrong content type        ``the page is application/pdf, not HTML or plain text``
over the cap              ``more than 5,000,000 bytes (fetch_max_bytes)``; the download
                          stops there (a declared Content-Length over it is refused first)
========================  ===================================================================

The size cap and the timeout hold for the whole download, not just each read.
httpx comes with the ``html`` extra; without it the error says what to install.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from summarizer.about import package_version
from summarizer.errors import ConfigError, InputError

__all__ = ["ACCEPTED_TYPES", "MAX_REDIRECTS", "Fetched", "fetch_url", "is_url"]

ACCEPTED_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
MAX_REDIRECTS = 5


def is_url(spec: str) -> bool:
    """``http://...`` or ``https://...`` (any case), as opposed to a path."""
    return spec[:8].lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class Fetched:
    """A downloaded page: where it ended up, its media type and charset, and its bytes."""

    url: str
    media_type: str
    charset: str | None
    data: bytes

    @property
    def is_html(self) -> bool:
        return self.media_type != "text/plain"


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise ConfigError(
            "fetching a URL needs httpx, which is not installed: pip install 'summarizer[html]'"
        ) from None
    return httpx


def fetch_url(url: str, *, timeout: float, max_bytes: int, transport: Any | None = None) -> Fetched:
    """GET ``url`` (following up to 5 redirects) and return its bytes; see the module doc.

    ``transport``: an httpx transport, for tests.
    """
    parsed = urlparse(url)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.hostname:
        raise InputError(f"{url}: only http:// and https:// URLs can be fetched")
    httpx = _httpx()
    headers = {
        "user-agent": f"summarizer/{package_version()}",
        "accept": "text/html, application/xhtml+xml, text/plain;q=0.8",
    }
    started = time.monotonic()
    try:
        with (
            httpx.Client(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                headers=headers,
                transport=transport,
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                reason = response.reason_phrase or ""
                raise InputError(f"{url}: HTTP {response.status_code} {reason}".rstrip())
            content_type = response.headers.get("content-type", "")
            media_type = content_type.split(";")[0].strip().lower()
            if media_type not in ACCEPTED_TYPES:
                shown = media_type or "of no declared type"
                raise InputError(f"{url}: the page is {shown}, not HTML or plain text")
            too_large = f"{url}: more than {max_bytes:,} bytes (fetch_max_bytes)"
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise InputError(too_large)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise InputError(too_large)
                if time.monotonic() - started > timeout:
                    raise InputError(f"{url}: no answer within {timeout:g} s (fetch_timeout)")
                chunks.append(chunk)
            charset = response.charset_encoding
            final = str(response.url)
    except httpx.TimeoutException:
        raise InputError(f"{url}: no answer within {timeout:g} s (fetch_timeout)") from None
    except httpx.TooManyRedirects:
        raise InputError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except httpx.ConnectError as exc:
        raise InputError(f"{url}: cannot connect ({exc or type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise InputError(f"{url}: download failed ({type(exc).__name__}: {exc})") from None
    return Fetched(final, media_type, charset, b"".join(chunks))
