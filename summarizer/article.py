"""Load an article and check it is usable text, before any model call is paid for.

``Article.text`` is exactly what the model sees and what offsets point into.
Line endings are normalised to ``\\n`` and a UTF-8 byte-order mark is removed;
nothing else is changed.

Every way an input can be unusable is an :class:`~summarizer.errors.InputError`
(exit code 3) with its own one-line message, raised before any call:

=====================  ==========================================================
input                  message (after ``<source>: ``)
=====================  ==========================================================
missing file           ``no such file``
a directory            ``is a directory, not an article file``
no read permission     ``permission denied``
other OS error         ``cannot read: <strerror>``
stdin closed           ``stdin is closed; pipe an article in, or give a file``
over the limit         ``N bytes, over the limit of M bytes (max_input_bytes)``
NUL bytes              ``contains NUL bytes; is it a binary file?``
not UTF-8              ``not UTF-8 text (bad byte at offset N); convert it first ...``
cut mid-character      ``ends in the middle of a UTF-8 character; was it cut off?``
lone surrogates (str)  ``contains characters that are not valid Unicode ...``
0 bytes                ``the article is empty``
only whitespace        ``the article is only whitespace``
=====================  ==========================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import stat
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, Literal

from summarizer.clean import Cleaned, Removal, clean_text
from summarizer.errors import InputError

__all__ = ["Article", "article_from_bytes", "load_article", "read_article_bytes"]


@dataclass(frozen=True)
class Article:
    """The text to summarize, with where it came from.

    After :meth:`cleaned`, ``text`` is what the model sees and is grounded against;
    ``input_text`` is the text before cleaning, which a result's offsets are moved
    back into, and ``removed`` says what went, at which input offsets (see
    :mod:`summarizer.clean`).
    """

    text: str
    source: str = "<text>"
    title: str | None = None
    kind: Literal["text", "html", "url"] = "text"
    url: str | None = None
    author: str | None = None
    date: str | None = None
    input_text: str | None = None
    """The text before cleaning; None until :meth:`cleaned` has run."""
    removed: tuple[Removal, ...] = ()

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def cleaned(self) -> Article:
        """This article with scraped boilerplate removed (once; a second call does nothing).

        Refuses, like an empty file, an article that was nothing but boilerplate.
        """
        if self.input_text is not None:
            return self
        result = clean_text(self.text)
        if not result.text.strip():
            reasons = ", ".join(sorted({r.reason for r in result.removed}))
            raise InputError(f"{self.source}: the article is only page furniture ({reasons})")
        return dataclasses.replace(
            self, text=result.text, input_text=self.text, removed=result.removed
        )

    def to_input(self, offset: int) -> int:
        """The input offset of ``offset`` in ``text`` (the same when nothing was removed)."""
        return Cleaned(self.text, self.removed).to_input(offset)

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        source: str = "<text>",
        title: str | None = None,
        max_bytes: int | None = None,
    ) -> Article:
        """Check and normalise text given directly (the Python API's way in)."""
        if isinstance(text, (bytes, bytearray)):
            raise InputError(f"{source}: expected article text as str, got bytes; decode it first")
        if not isinstance(text, str):
            raise InputError(f"{source}: expected article text as str, got {type(text).__name__}")
        if "\x00" in text:
            raise InputError(f"{source}: contains NUL characters; is it a binary file?")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise InputError(
                f"{source}: contains characters that are not valid Unicode (a lone surrogate "
                f"at offset {exc.start}); was it decoded with errors='surrogateescape'?"
            ) from None
        if max_bytes is not None and size > max_bytes:
            raise InputError(_too_large(source, size, max_bytes))
        text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        if not text:
            raise InputError(f"{source}: the article is empty")
        if not text.strip():
            raise InputError(f"{source}: the article is only whitespace")
        return cls(text=text, source=source, title=title)


def _too_large(source: str, size: int | None, limit: int) -> str:
    amount = f"{size:,} bytes" if size is not None else "more bytes than that"
    return f"{source}: {amount}, over the limit of {limit:,} bytes (max_input_bytes)"


def _read_stdin(stdin: BinaryIO | None, max_bytes: int) -> bytes:
    if stdin is None:
        # With fd 0 closed (`summarizer summarize - <&-`) Python sets sys.stdin to None.
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise InputError("stdin is closed; pipe an article in, or give a file")
        stdin = stream
    try:
        return stdin.read(max_bytes + 1)
    except (OSError, ValueError) as exc:  # ValueError: read from a closed file
        detail = getattr(exc, "strerror", None) or str(exc)
        if "closed" in detail:
            raise InputError("stdin is closed; pipe an article in, or give a file") from None
        raise InputError(f"stdin: cannot read: {detail}") from None


def read_article_bytes(path: str, *, max_bytes: int, stdin: BinaryIO | None = None) -> bytes:
    """Read a file (or ``-`` for stdin) without ever reading more than the limit.

    A regular file over the limit is refused from its size, without reading it.
    """
    if path == "-":
        data = _read_stdin(stdin, max_bytes)
        if len(data) > max_bytes:
            raise InputError(_too_large("stdin", None, max_bytes))
        return data
    file = Path(path)
    try:
        info = file.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{path}: is a directory, not an article file")
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise InputError(_too_large(path, info.st_size, max_bytes))
        with file.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an article file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:  # a pipe or a device: no size to look at first
        raise InputError(_too_large(path, None, max_bytes))
    return data


def load_article(path: str, *, max_bytes: int, stdin: BinaryIO | None = None) -> Article:
    """Read and decode an article file, or stdin for ``-``."""
    data = read_article_bytes(path, max_bytes=max_bytes, stdin=stdin)
    return article_from_bytes(data, source="stdin" if path == "-" else path)


def article_from_bytes(data: bytes, *, source: str, max_bytes: int | None = None) -> Article:
    """Decode UTF-8 article text, with the same one-line errors as :func:`load_article`."""
    if b"\x00" in data:
        raise InputError(f"{source}: contains NUL bytes; is it a binary file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            raise InputError(
                f"{source}: ends in the middle of a UTF-8 character; was it cut off?"
            ) from None
        raise InputError(
            f"{source}: not UTF-8 text (bad byte at offset {exc.start}); convert it first, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from None
    return Article.from_text(text, source=source, max_bytes=max_bytes)
