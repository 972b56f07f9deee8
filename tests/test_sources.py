"""HTML files and URLs: extraction with trafilatura, and every way a download fails.

URLs point at tests/page_server.py on 127.0.0.1, never at the internet.
"""

from __future__ import annotations

import builtins
import io
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from summarizer.errors import ConfigError, InputError
from summarizer.fetch import fetch_url
from summarizer.settings import load_settings
from summarizer.sources import load_source
from tests.page_server import PAGES, PageServer

KABUL_TITLE = "Rocket attack in Kabul, Mike Pompeo met Afghan government and the Taliban"


@pytest.fixture
def pages() -> Iterator[PageServer]:
    with PageServer(slow_seconds=5) as server:
        yield server


def test_an_html_file_gives_the_story_its_title_author_and_date() -> None:
    article = load_source(str(PAGES / "kabul.html"), load_settings())
    assert (article.kind, article.title, article.author) == ("html", KABUL_TITLE, "Rahim Faiez")
    assert article.date == "2020-11-21"
    assert "Tariq Arian, a spokesman for Afghanistan's interior ministry" in article.text
    assert '"Even downtown isn\'t safe," Mr. Amiri said.' in article.text
    for furniture in ("We use cookies", "Share on Facebook", "Sign in", "Copyright 2020"):
        assert furniture not in article.text
    assert "\n\nThe rocket barrage smashed" in article.text  # blocks are paragraphs


def test_html_is_recognised_by_its_content_whatever_the_name() -> None:
    stdin = io.BytesIO((PAGES / "kabul.html").read_bytes())
    article = load_source("-", load_settings(), stdin=stdin)
    assert (article.source, article.kind, article.title) == ("stdin", "html", KABUL_TITLE)


def test_a_page_with_no_article_text_is_refused() -> None:
    with pytest.raises(InputError, match=r"no-article.html: no article text found"):
        load_source(str(PAGES / "no-article.html"), load_settings())


def test_without_trafilatura_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # import fails, as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'summarizer\[html\]'"):
        load_source(str(PAGES / "kabul.html"), load_settings())


def test_when_trafilatura_fails_to_import_the_error_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """trafilatura installed, lxml_html_clean not (lxml >= 5.2, and a pip that skipped the
    lxml[html_clean] extra): the error must say what failed, not "not installed"."""
    real_import = builtins.__import__
    lxml_says = (
        "lxml.html.clean module is now a separate project lxml_html_clean.\n"
        "Install lxml[html-clean] or lxml_html_clean directly."
    )

    def failing_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "trafilatura":
            raise ImportError(lxml_says)  # what lxml/html/clean.py raises, with no module name
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(ConfigError) as info:
        load_source(str(PAGES / "kabul.html"), load_settings())
    message = str(info.value)
    assert "failed to import: lxml.html.clean module is now a separate project" in message
    assert "not installed" not in message and "\n" not in message
    assert "pip install 'summarizer[html]'" in message


def test_a_url_is_fetched_and_extracted(pages: PageServer) -> None:
    url = pages.url("kabul.html")
    article = load_source(url, load_settings())
    assert (article.kind, article.url, article.title) == ("url", url, KABUL_TITLE)
    assert article.source == url
    assert "Tariq Arian" in article.text
    assert pages.paths == ["/kabul.html"]


def test_a_redirect_is_followed_and_the_final_url_kept(pages: PageServer) -> None:
    article = load_source(pages.url("redirect/kabul.html"), load_settings())
    assert article.url == pages.url("kabul.html")
    assert article.source == pages.url("redirect/kabul.html")


def test_a_plain_text_url_is_taken_as_text(pages: PageServer) -> None:
    article = load_source(pages.url("plain.txt"), load_settings())
    assert article.kind == "url"
    assert article.text == (PAGES / "plain.txt").read_text("utf-8")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("status/404", r": HTTP 404 Not Found$"),
        ("status/503", r": HTTP 503 Service Unavailable$"),
        ("type/application/pdf", r": the page is application/pdf, not HTML or plain text$"),
        ("big", r": more than 200,000 bytes \(fetch_max_bytes\)$"),
        ("declared-big", r": more than 200,000 bytes \(fetch_max_bytes\)$"),
        ("slow", r": no answer within 0.3 s \(fetch_timeout\)$"),
        ("loop", r": more than 5 redirects$"),
    ],
)
def test_each_download_failure_is_one_line_of_its_own(
    pages: PageServer, path: str, message: str
) -> None:
    settings = load_settings(fetch_timeout=0.3, fetch_max_bytes=200_000)
    with pytest.raises(InputError, match=message) as caught:
        load_source(pages.url(path), settings)
    assert str(caught.value).startswith(pages.url(path))
    assert caught.value.exit_code == 3


def test_a_closed_port_is_a_connection_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/page.html"
    with pytest.raises(InputError, match=r"page.html: cannot connect \("):
        fetch_url(url, timeout=2, max_bytes=1000)


def test_only_http_and_https_are_fetched() -> None:
    with pytest.raises(InputError, match=r"only http:// and https:// URLs"):
        fetch_url("ftp://127.0.0.1/page.html", timeout=2, max_bytes=1000)
