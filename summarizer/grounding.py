"""Find a model's quote in the article, and say exactly where it stands.

A model copying a sentence often changes characters that a reader would not
notice. Both the article and the quote are therefore compared after the same
normalisation, and nothing looser (no edit distance, no word skipping):

1. Unicode NFKC, character by character (``ﬁ`` -> ``fi``, ``…`` -> ``...``,
   full-width letters -> ASCII, no-break space -> space).
2. Curly, angled and prime quotation marks -> ``'`` or ``"``.
3. Hyphen and dash variants (U+2010-U+2015, U+2212) -> ``-``.
4. Every run of whitespace, line breaks included, -> one space.

Three more rules apply to the quote only: surrounding whitespace is ignored,
so is one pair of quotation marks wrapped around the whole of it, and so is the
case of its first letter (a passage lifted from mid-sentence is often given a
capital: "The Pentagon announced" for "...this week the Pentagon announced").

Ellipses: a quote that is not found as a whole but contains ``...`` is split
there, and every fragment must be found, in order, each after the previous one
ends. Fragments shorter than ``MIN_FRAGMENT_CHARS`` are rejected, since short
fragments can be found almost anywhere. The span then runs from the first
fragment's start to the last one's end, and lists each fragment.

Offsets are Python string indices (code points) into the original article
text, end exclusive: ``text[span.start:span.end]`` is the article's own wording.
Speakers are matched the same way, ignoring case.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["MIN_FRAGMENT_CHARS", "Located", "SourceIndex", "locate", "normalize"]

MIN_FRAGMENT_CHARS = 12

_QUOTES = "\u2018\u2019\u201a\u201b\u2032\u2035\u0060\u00b4"
_DQUOTES = "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_TRANSLATE = str.maketrans(
    {**dict.fromkeys(_QUOTES, "'"), **dict.fromkeys(_DQUOTES, '"'), **dict.fromkeys(_DASHES, "-")}
)
_SPACE_RUN = re.compile(r"\s+")
_ELLIPSIS = re.compile(r"\s*\.\.\.\s*")
_WRAPPING_QUOTES = {"'": "'", '"': '"'}


@dataclass(frozen=True)
class Located:
    """Where a quote stands: ``start``/``end`` in the original text."""

    start: int
    end: int
    fragments: tuple[tuple[int, int], ...] = ()


def _nfkc(text: str) -> tuple[str, list[int] | None]:
    """NFKC per character, with a map from each output char to its input index."""
    if unicodedata.is_normalized("NFKC", text):
        return text, None
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        norm = unicodedata.normalize("NFKC", ch)
        out.append(norm)
        index.extend([i] * len(norm))
    return "".join(out), index


def _normalize_with_map(text: str) -> tuple[str, list[int]]:
    """Apply every rule; ``index[k]`` is the original offset of output char ``k``."""
    nfkc, nfkc_index = _nfkc(text)
    mapped = nfkc.translate(_TRANSLATE)
    pieces: list[str] = []
    index: list[int] = []
    pos = 0
    for match in _SPACE_RUN.finditer(mapped):
        pieces.append(mapped[pos : match.start()])
        index.extend(range(pos, match.start()))
        pieces.append(" ")
        index.append(match.start())
        pos = match.end()
    pieces.append(mapped[pos:])
    index.extend(range(pos, len(mapped)))
    if nfkc_index is not None:
        index = [nfkc_index[k] for k in index]
    return "".join(pieces), index


def normalize(text: str) -> str:
    """The article-side normalisation, as a plain string (for display and tests)."""
    return _normalize_with_map(text)[0]


def _normalize_needle(needle: str) -> str:
    norm = normalize(needle).strip()
    if len(norm) >= 2 and _WRAPPING_QUOTES.get(norm[0]) == norm[-1]:
        inner = norm[1:-1].strip()
        if norm[0] not in inner:
            norm = inner
    return norm


class SourceIndex:
    """An article normalised once, so that many quotes can be looked up cheaply."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._norm, self._index = _normalize_with_map(text)
        self._lower: str | None = None

    def _span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of normalised ``[start, end)``."""
        last = self._index[end - 1]
        return self._index[start], last + 1

    def _find(self, needle: str, haystack: str, start: int = 0) -> tuple[int, int] | None:
        at = haystack.find(needle, start)
        if at < 0 and needle[:1].isalpha():
            at = haystack.find(needle[0].swapcase() + needle[1:], start)
        return None if at < 0 else (at, at + len(needle))

    def locate(self, quote: str, *, ignore_case: bool = False) -> Located | None:
        """Locate ``quote`` by the rules in the module docstring, or return None."""
        needle = _normalize_needle(quote)
        if not needle:
            return None
        haystack = self._norm
        if ignore_case:
            if self._lower is None:
                lowered = haystack.lower()
                # lower() can change the length (e.g. U+0130); then offsets would drift.
                self._lower = lowered if len(lowered) == len(haystack) else haystack
            haystack, needle = self._lower, needle.lower()
        found = self._find(needle, haystack)
        if found is not None:
            return Located(*self._span(*found))
        parts = [p for p in _ELLIPSIS.split(needle) if p]
        if len(parts) < 2 or any(len(p) < MIN_FRAGMENT_CHARS for p in parts):
            return None
        fragments: list[tuple[int, int]] = []
        pos = 0
        for part in parts:
            hit = self._find(part, haystack, pos)
            if hit is None:
                return None
            fragments.append(self._span(*hit))
            pos = hit[1]
        return Located(fragments[0][0], fragments[-1][1], tuple(fragments))


@lru_cache(maxsize=16)
def _index_for(text: str) -> SourceIndex:
    return SourceIndex(text)


def locate(quote: str, text: str, *, ignore_case: bool = False) -> Located | None:
    """Locate ``quote`` in ``text``; the index of recent texts is reused."""
    return _index_for(text).locate(quote, ignore_case=ignore_case)
