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
from bisect import bisect_right
from collections.abc import Callable
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
_ELLIPSIS = re.compile(r"\s*\.\.\.\s*")
_WRAPPING_QUOTES = {"'": "'", '"': '"'}


@dataclass(frozen=True)
class Located:
    """Where a quote stands: ``start``/``end`` in the original text."""

    start: int
    end: int
    fragments: tuple[tuple[int, int], ...] = ()


class _Offsets:
    """A map from normalised offsets back to original ones, stored as the points where
    the difference between the two changes (a bisect per lookup), so that an article of
    100,000 characters costs a few thousand entries, not a list of 100,000."""

    def __init__(self) -> None:
        self._starts = [0]
        self._shifts = [0]

    def add(self, out: int, orig: int) -> None:
        """From output offset ``out`` on, the original offset is ``orig + (k - out)``."""
        shift = orig - out
        if self._starts[-1] == out:
            self._shifts[-1] = shift
            if len(self._shifts) > 1 and self._shifts[-2] == shift:
                self._starts.pop()
                self._shifts.pop()
        elif self._shifts[-1] != shift:
            self._starts.append(out)
            self._shifts.append(shift)

    def __getitem__(self, k: int) -> int:
        return k + self._shifts[bisect_right(self._starts, k) - 1]


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SPACE_CHANGE = re.compile(r"\s{2,}|[^\S ]")  # what rule 4 changes: a lone space stays


def _nfkc(text: str) -> tuple[str, _Offsets | None]:
    """NFKC per character (ASCII needs none), with the map back to the input."""
    if unicodedata.is_normalized("NFKC", text):
        return text, None
    pieces: list[str] = []
    offsets = _Offsets()
    pos = out = 0
    for match in _NON_ASCII.finditer(text):
        pieces.append(text[pos : match.start()])
        out += match.start() - pos
        for i in range(match.start(), match.end()):
            norm = unicodedata.normalize("NFKC", text[i])
            pieces.append(norm)
            if len(norm) != 1:
                for j in range(len(norm)):
                    offsets.add(out + j, i)
                offsets.add(out + len(norm), i + 1)
            out += len(norm)
        pos = match.end()
    pieces.append(text[pos:])
    return "".join(pieces), offsets


def _normalize_with_map(text: str) -> tuple[str, Callable[[int], int]]:
    """Apply every rule; ``index(k)`` is the original offset of output char ``k``."""
    nfkc, nfkc_offsets = _nfkc(text)
    mapped = nfkc.translate(_TRANSLATE)
    spaces = _Offsets()
    pieces: list[str] = []
    pos = out = 0
    for match in _SPACE_CHANGE.finditer(mapped):
        out += match.start() - pos
        pieces.append(mapped[pos : match.start()])
        pieces.append(" ")
        spaces.add(out, match.start())
        spaces.add(out + 1, match.end())
        out += 1
        pos = match.end()
    pieces.append(mapped[pos:])
    if nfkc_offsets is None:
        return "".join(pieces), spaces.__getitem__
    first = nfkc_offsets
    return "".join(pieces), lambda k: first[spaces[k]]


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
        last = self._index(end - 1)
        return self._index(start), last + 1

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
