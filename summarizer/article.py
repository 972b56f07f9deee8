"""Load an article and check it is usable text, before any model call is paid for.

``Article.text`` is exactly what the model sees and what offsets point into.
Line endings are normalised to ``\\n`` and a UTF-8 byte-order mark is removed;
nothing else is changed.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from summarizer.errors import InputError

__all__ = ["Article", "load_article", "read_article_bytes"]


@dataclass(frozen=True)
class Article:
    """The text to summarize, with where it came from."""

    text: str
    source: str = "<text>"
    title: str | None = None

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

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
        if not isinstance(text, str):
            raise InputError(f"{source}: expected article text as str, got {type(text).__name__}")
        if "\x00" in text:
            raise InputError(f"{source}: contains NUL characters; is it a binary file?")
        text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            raise InputError(f"{source}: the article is empty")
        if max_bytes is not None and len(text.encode("utf-8")) > max_bytes:
            raise InputError(f"{source}: larger than the limit of {max_bytes:,} bytes")
        return cls(text=text, source=source, title=title)


def read_article_bytes(path: str, *, max_bytes: int, stdin: BinaryIO | None = None) -> bytes:
    """Read a file (or ``-`` for stdin) without ever reading more than the limit."""
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read(max_bytes + 1)
        where = "stdin"
    else:
        file = Path(path)
        try:
            if file.is_dir():
                raise InputError(f"{path}: is a directory, not an article file")
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
        where = path
    if len(data) > max_bytes:
        raise InputError(f"{where}: larger than the limit of {max_bytes:,} bytes (max_input_bytes)")
    return data


def load_article(path: str, *, max_bytes: int, stdin: BinaryIO | None = None) -> Article:
    """Read and decode an article file, or stdin for ``-``."""
    data = read_article_bytes(path, max_bytes=max_bytes, stdin=stdin)
    source = "stdin" if path == "-" else path
    if b"\x00" in data:
        raise InputError(f"{source}: contains NUL bytes; is it a binary file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: not UTF-8 text (bad byte at offset {exc.start}); convert it first, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from None
    return Article.from_text(text, source=source)
