"""Reading an article: what the model will see, and every way an input is refused before a call.

The command line's view of the same refusals (exit 3, one line, no call) is in
test_faults.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from summarizer.article import Article, load_article, read_article_bytes
from summarizer.errors import InputError

LIMIT = 1000


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "article.txt"
    path.write_bytes(data)
    return str(path)


def test_the_text_is_what_the_model_sees_with_only_line_ends_and_bom_changed(
    tmp_path: Path,
) -> None:
    raw = "\ufeffLine one\r\nLine two\rLine three\n  {{ x }}\t\u201cquoted\u201d\n".encode()
    article = load_article(write(tmp_path, raw), max_bytes=LIMIT)
    assert article.text == "Line one\nLine two\nLine three\n  {{ x }}\t\u201cquoted\u201d\n"
    assert article.sha256 == hashlib.sha256(article.text.encode()).hexdigest()
    assert article.source.endswith("article.txt")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the article is empty"),
        (b"\xef\xbb\xbf", "the article is empty"),  # only a byte-order mark
        (b" \r\n\t ", "the article is only whitespace"),
        (b"GIF89a\x00\x00", "contains NUL bytes; is it a binary file?"),
        (b"na\xefve", "not UTF-8 text (bad byte at offset 2); convert it first"),
        ("cut off \u2014".encode()[:-2], "ends in the middle of a UTF-8 character"),
        (b"x" * (LIMIT + 1), f"1,001 bytes, over the limit of {LIMIT:,} bytes"),
    ],
    ids=["empty", "bom-only", "whitespace", "binary", "latin-1", "cut-off", "too-large"],
)
def test_unusable_files_are_refused_with_their_own_message(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(InputError, match="^" + re.escape(path)) as info:
        load_article(path, max_bytes=LIMIT)
    assert message in str(info.value)
    assert info.value.exit_code == 3


def test_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.txt: no such file$"):
        load_article(str(tmp_path / "nope.txt"), max_bytes=LIMIT)
    with pytest.raises(InputError, match=r"is a directory, not an article file$"):
        load_article(str(tmp_path), max_bytes=LIMIT)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads a chmod 000 file anyway; test_permission_denied_simulated covers it",
)
def test_permission_denied(tmp_path: Path) -> None:
    path = write(tmp_path, b"text")
    os.chmod(path, 0)
    try:
        with pytest.raises(InputError, match=r"permission denied$"):
            load_article(path, max_bytes=LIMIT)
    finally:
        os.chmod(path, 0o600)


def test_permission_denied_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, b"text")

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(InputError, match=r"article\.txt: permission denied$"):
        load_article(path, max_bytes=LIMIT)


def test_other_read_errors_say_what_the_system_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, b"text")

    def broken(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "open", broken)
    with pytest.raises(InputError, match=r"cannot read: Input/output error$"):
        load_article(path, max_bytes=LIMIT)


def test_a_big_file_is_refused_from_its_size_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(10**9)  # sparse

    def must_not_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("opened a file that is over the limit")

    monkeypatch.setattr(Path, "open", must_not_open)
    with pytest.raises(InputError, match=r"1,000,000,000 bytes, over the limit of 1,000 bytes"):
        read_article_bytes(str(path), max_bytes=LIMIT)


class Stream(io.BytesIO):
    """A stdin that remembers how much was asked of it."""

    asked: list[int]

    def read(self, size: int | None = -1) -> bytes:
        self.asked = [*getattr(self, "asked", []), size if size is not None else -1]
        return super().read(size)


def test_stdin_is_read_up_to_the_limit_and_no_further() -> None:
    endless = Stream(b"y" * 10 * LIMIT)
    with pytest.raises(InputError, match=r"^stdin: more bytes than that, over the limit"):
        load_article("-", max_bytes=LIMIT, stdin=endless)
    assert endless.asked == [LIMIT + 1]


def test_stdin_text_and_its_faults() -> None:
    assert load_article("-", max_bytes=LIMIT, stdin=io.BytesIO(b"Hello.")).source == "stdin"
    with pytest.raises(InputError, match=r"^stdin: the article is empty$"):
        load_article("-", max_bytes=LIMIT, stdin=io.BytesIO(b""))
    closed = io.BytesIO(b"text")
    closed.close()
    with pytest.raises(InputError, match=r"^stdin is closed; pipe an article in, or give a file$"):
        load_article("-", max_bytes=LIMIT, stdin=closed)


def test_stdin_that_fails_while_reading() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(InputError, match=r"^stdin: cannot read: Input/output error$"):
        load_article("-", max_bytes=LIMIT, stdin=Broken())


def test_no_stdin_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """With fd 0 closed (`summarizer summarize - <&-`) Python sets sys.stdin to None."""
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(InputError, match=r"^stdin is closed"):
        load_article("-", max_bytes=LIMIT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "<text>: the article is empty"),
        ("\n \n", "<text>: the article is only whitespace"),
        ("a\x00b", "contains NUL characters"),
        ("caf\udce9", "not valid Unicode (a lone surrogate at offset 3)"),
        (b"bytes", "got bytes; decode it first"),
        (42, "expected article text as str, got int"),
        ("x" * (LIMIT + 1), "1,001 bytes, over the limit of 1,000 bytes (max_input_bytes)"),
    ],
    ids=["empty", "whitespace", "nul", "surrogate", "bytes", "int", "too-large"],
)
def test_text_given_directly_is_checked_the_same_way(text: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        Article.from_text(text, max_bytes=LIMIT)
    assert message in str(info.value)
