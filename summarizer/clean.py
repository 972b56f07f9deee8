"""Remove what a scraper left around a story, before the model sees it; nothing else.

Whole lines only, and conservatively: a line goes only when it is one of

* **a repeat**: the same words (whitespace ignored) as an earlier line, such as an
  image caption printed twice; the first copy stays;
* **page furniture**: the whole line, at most 300 characters and with no quotation
  mark in it, is a JavaScript notice ("Sorry, you need to enable JavaScript to
  visit this website."), share buttons ("Shariff share buttons", "Share on
  Facebook", "Facebook Twitter Email"), a cookie notice that asks for consent
  ("We use cookies ... By continuing ... you agree"), or a banner ("Advertisement",
  "Skip to content", "Subscribe to our newsletter", "Story continues below").

A line that merely *mentions* JavaScript or cookies inside a sentence stays. Blank
lines next to a removed line go with it only where keeping them would leave a
gap wider than the text had (or a blank at the start or end), so paragraphs stay
paragraphs.

Every removal is recorded as a :class:`Removal`: its offsets in the *input*
text, the exact characters removed (``input[start:end] == text``) and why.
:meth:`Cleaned.to_input` maps an offset in the cleaned text back to the input.
Cleaning is idempotent: cleaning a cleaned text removes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Cleaned", "Removal", "clean_text"]

MAX_FURNITURE_CHARS = 300
_QUOTE_MARKS = '"“”„«»'

_SHARE_WORDS = (
    r"share|shares|tweet|email|e-mail|print|copy link|facebook|twitter|x|whatsapp|linkedin|"
    r"pinterest|reddit|telegram|messenger|flipboard|comments?"
)
_FURNITURE: list[tuple[str, re.Pattern[str]]] = [
    (
        "JavaScript notice",
        re.compile(
            r"(sorry,? )?(you need to|you must|please) (enable|turn on|activate) javascript\b.*"
            r"|javascript (is|seems to be) (disabled|required|not enabled|turned off)\b.*"
            r"|this (site|website|page) requires javascript\b.*"
            r"|(please )?enable javascript( in your browser)?( to .*)?"
        ),
    ),
    (
        "share buttons",
        re.compile(
            rf"(shariff )?share buttons|share (this|the) (article|story|page|post)( on .*)?"
            rf"|share (on|via|with) \w+|((share|teilen) )?(({_SHARE_WORDS})[\s|/·•,]*){{1,8}}"
        ),
    ),
    (
        "cookie notice",
        re.compile(
            r"((we|this (web)?site|our (web)?site|this page) (uses?|is using) cookies\b"
            r".*\b(accept\w*|agree\w*|consent\w*|continu\w*|cookie policy|privacy policy|settings|"
            r"preferences|learn more|more information)\b.*)"
            r"|(accept|allow|reject|manage)( all)? cookies|cookie (settings|preferences|policy)"
        ),
    ),
    (
        "banner",
        re.compile(
            r"advertisement|advertising|sponsored( content)?|skip to (main )?content"
            r"|(subscribe|sign up) (to|for) (our|the) newsletter\b.{0,80}"
            r"|(story|article) continues below( advertisement)?|continue reading( below)?"
            r"|read more|related (articles|stories|coverage)|most (read|popular)"
        ),
    ),
]


@dataclass(frozen=True)
class Removal:
    """Characters removed from the input: ``input[start:end] == text``."""

    start: int
    end: int
    text: str
    reason: str


@dataclass(frozen=True)
class Cleaned:
    """The text the model sees, and how it differs from the input."""

    text: str
    removed: tuple[Removal, ...] = field(default_factory=tuple)

    def to_input(self, offset: int) -> int:
        """The input offset of the character at ``offset`` in the cleaned text.

        ``offset == len(text)`` maps to the end of the input's last kept character.
        """
        shift = 0
        for removal in self.removed:
            if removal.start <= offset + shift:
                shift += removal.end - removal.start
            else:
                break
        return offset + shift


def _furniture(line: str) -> str | None:
    """Why this whole line is page furniture, or None when it may be part of the story."""
    stripped = line.strip()
    if not stripped or len(stripped) > MAX_FURNITURE_CHARS:
        return None
    if any(mark in stripped for mark in _QUOTE_MARKS):
        return None
    key = " ".join(stripped.casefold().split()).rstrip(".!:")
    for reason, pattern in _FURNITURE:
        if pattern.fullmatch(key):
            return reason
    return None


def clean_text(text: str) -> Cleaned:
    """Remove repeated lines and page furniture; record every removal (see the module doc)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    reasons: list[str | None] = []
    seen: set[str] = set()
    for line in lines:
        key = " ".join(line.split())
        reason = _furniture(line)
        if reason is None and key and key in seen:
            reason = "repeated line"
        if key and reason is None:
            seen.add(key)
        reasons.append(reason)
    if not any(reasons):
        return Cleaned(text)

    dropped = [r is not None for r in reasons]
    blank = [not line.strip() for line in lines]
    # Each run of removed and blank lines keeps as many blank lines as its longest
    # blank run had (the last ones), none at the start or the end of the text.
    i = 0
    while i < len(lines):
        if not (dropped[i] or blank[i]):
            i += 1
            continue
        j = i
        while j < len(lines) and (dropped[j] or blank[j]):
            j += 1
        if any(dropped[i:j]):
            longest = run = 0
            for k in range(i, j):
                run = run + 1 if blank[k] else 0
                longest = max(longest, run)
            keep = 0 if i == 0 or j == len(lines) else longest
            blanks = [k for k in range(i, j) if blank[k]]
            for k in blanks[: len(blanks) - keep]:
                dropped[k] = True
        i = j

    removed: list[Removal] = []
    kept: list[str] = []
    k = 0
    while k < len(lines):
        if not dropped[k]:
            kept.append(lines[k])
            k += 1
            continue
        m = k
        while m < len(lines) and dropped[m]:
            m += 1
        why = list(dict.fromkeys(r for r in reasons[k:m] if r is not None))
        removed.append(
            Removal(
                start=starts[k],
                end=starts[m],
                text=text[starts[k] : starts[m]],
                reason=", ".join(why) or "blank line",
            )
        )
        k = m
    return Cleaned("".join(kept), tuple(removed))
