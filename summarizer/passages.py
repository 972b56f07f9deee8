# ruff: noqa: RUF002  (the docstring shows the quotation marks this module reads)
"""Sentences, paragraphs, direct quotations and their speakers, found without a model.

This is a deterministic pass over an article's cleaned text, made before any model
call, so that a model can be shown numbered sentences (``[1]``, ``[2]``) and
quotations (``Q1``, ``Q2``), and so that what it returns can be checked against them.
Every offset is a Python string index into the text, end exclusive:
``text[start:end]`` is the passage itself, with no surrounding whitespace.

Paragraphs and sentences
    Every non-blank line is a paragraph (cleaned text puts one paragraph per line or
    separates them by blank lines; either way a line break ends a paragraph). Each
    paragraph is split into sentences by pysbd, which keeps abbreviations such as
    "Sen.", "Gov.", "Mr.", "U.S." and "9 a.m." inside their sentence, so a sentence
    never spans a paragraph break. Offsets are computed here by searching forward
    from the previous sentence's end (pysbd's own ``char_span`` offsets can drift
    when the same sentence occurs twice, and it drops text it has rewritten). Two of
    its quirks are undone: a piece with no letter or digit (a lone closing mark ``”``
    or a stray ``.`` after an ellipsis) joins the sentence before it, and a piece
    that does not end in sentence punctuation (pysbd splits at some ellipses) joins
    the one after it. Paragraphs longer than ``_CHUNK_CHARS`` are cut at safe
    sentence ends before pysbd sees them, since its run time grows faster than
    linearly with the length of its input.

Quotation marks
    Double marks: straight ``"…"``, English ``“…”``, German ``„…“`` (and ``„…”``),
    French ``«…»`` (also with spaces inside, ``« texte »``), German ``»…«``, and single
    marks ``‘…’``, ``'…'``, ``‚…‘``, ``‹…›``, ``›…‹``. Straight marks and a mix such as
    ``"…”`` pair up too. A straight mark opens at a word start and closes at a word
    end. ``’`` and ``'`` between two letters or digits are apostrophes (``don't``,
    ``Taliban’s``), and ``’``, ``‘`` or ``'`` before a year (``’90s``) is never an
    opening mark. Quotes nest: only the outermost quotation is reported (``“He said
    ‘no’ to me,” she said`` gives one). A closing mark that matches no open mark is
    ignored.

Bounds and multi-paragraph quotes
    A quotation never runs past the end of its paragraph, unless the next paragraph
    begins with an opening mark of the same kind (double, single): that is the news
    convention for a quote that goes on over several paragraphs, and it is reported
    as one quotation whose ``fragments`` are the pieces in each paragraph. A mark
    left open at the end of a paragraph that the next does not reopen ends there,
    with ``closed=False``, so a stray mark cannot swallow the rest of the article.
    ``start``/``end`` are the quoted words (inside the marks, surrounding whitespace
    excluded); ``mark_start``/``mark_end`` include the marks. Quotations of at most
    ``SHORT_QUOTE_WORDS`` words with no attribution cue of their own are ``short``:
    most are scare quotes (the “deal”), which callers may skip as quotations.

Attribution
    The cue is looked for first after the closing mark, in the rest of its sentence
    (``“…,” he said``, ``“…,” said John Smith``, ``“…,” Smith told reporters``,
    ``“…,” Smith, the mayor, said``, ``“…,” according to X``), then before the opening
    mark, in its sentence (``John Smith said: “…”``, ``X, the mayor, said “…”``,
    ``Mr. Pompeo told the team: “…”``, ``According to X, “…”``). Verbs: said, says,
    told, added, asked, stated, explained, wrote, noted, warned, argued, insisted,
    claimed, replied and a few more, and "according to"; in German sagte, erklärte,
    betonte, "so X", "laut X"; in French a déclaré, a dit, a-t-il dit, "selon X"; in
    Spanish dijo, afirmó, "según X". The speaker is the name next to the verb:
    capitalised words, optionally after a title (Mr., Dr., Sen., Gov., President, …).
    A pronoun (he/she, er/sie, il/elle, él/ella) is resolved to the nearest person
    named before the quotation, within its sentence and the ``_PRONOUN_SENTENCES``
    sentences before it: a titled name, or a name next to a speech verb (``Fawzia
    Koofi, one of the negotiators, said``), outside any quotation. A quotation with no
    cue of its own takes the speaker of the quotation before it when that one is in
    the same paragraph, or in the previous paragraph and this quotation opens its
    own (``“…,” Mr. Amiri said. “…”``). Otherwise the speaker is None, and ``cue``
    keeps whatever attribution text was found (``a Taliban spokesman said``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pysbd  # type: ignore[import-untyped]
from pysbd.languages import LANGUAGE_CODES  # type: ignore[import-untyped]

__all__ = ["SHORT_QUOTE_WORDS", "Passages", "Quotation", "Sentence", "find_passages"]

SHORT_QUOTE_WORDS = 3

_CHUNK_CHARS = 2000
_PRONOUN_SENTENCES = 3
_CUE_WINDOW = 120  # characters around a quotation searched for its cue

# --- sentences -----------------------------------------------------------------

_SEGMENTERS: dict[str, Any] = {}
_LINE = re.compile(r"[^\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85]+")
_CLOSERS = "\"'\u201d\u2019\u00bb\u00ab\u203a\u2039\u201c)]}"
_TERMINALS = ".!?\u2026\u3002\uff01\uff1f\u0964\u061f\u06d4\u037e;:"
# Safe cut points for long paragraphs: a lowercase word of four letters or more
# (never an abbreviation such as "Mr." or "Capt.") ends a sentence, a capital follows.
_SAFE_CUT = re.compile(r"(?<=[a-z]{4}[.!?])[\"\u201d\u2019\u00bb)]*\s+(?=[\"\u201c\u00ab(]?[A-Z])")


def _code(language: str) -> str:
    """``"de-AT"``, ``"DE"``, ``"de_at"`` -> ``"de"``."""
    return language.strip().lower().replace("_", "-").split("-")[0]


def _segmenter(language: str) -> Any:
    """One pysbd Segmenter per language (building one parses its rules; reuse it)."""
    code = _code(language)
    if code not in LANGUAGE_CODES:
        code = "en"
    seg = _SEGMENTERS.get(code)
    if seg is None:
        seg = _SEGMENTERS[code] = pysbd.Segmenter(language=code, clean=False, char_span=True)
    return seg


def _chunks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut at safe sentence ends into pieces of about ``_CHUNK_CHARS``."""
    if end - start <= _CHUNK_CHARS:
        return [(start, end)]
    out: list[tuple[int, int]] = []
    piece = start
    for m in _SAFE_CUT.finditer(text, start, end):
        if m.start() - piece >= _CHUNK_CHARS:
            out.append((piece, m.start()))
            piece = m.end()
    out.append((piece, end))
    return out


def _align(text: str, start: int, end: int, pieces: list[str]) -> list[tuple[int, int]]:
    """Where pysbd's pieces stand in ``text[start:end]``, searched forward in order.

    A piece that cannot be found (pysbd rewrote it) is skipped, and text between two
    found pieces joins the one before, so that every non-blank character of the
    paragraph is in exactly one span."""
    spans: list[list[int]] = []
    cursor = start
    for raw in pieces:
        piece = raw.strip()
        if not piece:
            continue
        at = text.find(piece, cursor, end)
        length = len(piece)
        if at < 0:
            pattern = r"\s+".join(re.escape(w) for w in piece.split())
            m = re.compile(pattern).search(text, cursor, end)
            if m is None:
                continue
            at, length = m.start(), m.end() - m.start()
        if text[cursor:at].strip():
            if spans:
                spans[-1][1] = at
            else:
                at = cursor
        spans.append([at, at + length])
        cursor = at + length
    if text[cursor:end].strip():
        if spans:
            spans[-1][1] = end
        else:
            spans.append([cursor, end])
    return [_strip(text, s, e) for s, e in spans]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _ends_sentence(piece: str) -> bool:
    return piece.rstrip(_CLOSERS + " ")[-1:] in _TERMINALS


def _merge(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Undo pysbd's stray splits: punctuation-only pieces join the previous sentence,
    pieces without sentence-final punctuation join the next."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and not any(c.isalnum() for c in text[s:e]):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    merged: list[tuple[int, int]] = []
    carry: int | None = None
    for s, e in out:
        if carry is not None:
            s, carry = carry, None
        if not _ends_sentence(text[s:e]):
            carry = s
            continue
        merged.append((s, e))
    if carry is not None:
        merged.append((carry, out[-1][1]))
    return merged


def _sentences(text: str, paragraphs: list[tuple[int, int]], language: str) -> list[Sentence]:
    seg = _segmenter(language)
    sentences: list[Sentence] = []
    for index, (p_start, p_end) in enumerate(paragraphs):
        spans: list[tuple[int, int]] = []
        for c_start, c_end in _chunks(text, p_start, p_end):
            pieces = [span.sent for span in seg.segment(text[c_start:c_end])]
            spans.extend(_align(text, c_start, c_end, pieces))
        for s, e in _merge(text, spans):
            sentences.append(Sentence(len(sentences) + 1, s, e, index, text[s:e]))
    return sentences


# --- quotation marks -----------------------------------------------------------

_DOUBLE, _SINGLE = "double", "single"
_KIND = {
    '"': _DOUBLE, "\u201c": _DOUBLE, "\u201d": _DOUBLE, "\u201e": _DOUBLE,
    "\u00ab": _DOUBLE, "\u00bb": _DOUBLE,
    "'": _SINGLE, "\u2018": _SINGLE, "\u2019": _SINGLE, "\u201a": _SINGLE,
    "\u2039": _SINGLE, "\u203a": _SINGLE,
}  # fmt: skip
_MARKS = "".join(_KIND)
# Which open marks each mark can close.
_CLOSES = {
    '"': '"\u201c\u201e',
    "\u201d": '"\u201c\u201e',
    "\u201c": "\u201e",  # German „…“
    "\u00bb": "\u00ab",
    "\u00ab": "\u00bb",  # German »…«
    "'": "'\u2018",
    "\u2019": "'\u2018\u201a",
    "\u2018": "\u201a",  # German low-high single marks
    "\u203a": "\u2039",
    "\u2039": "\u203a",
}
_ALWAYS_OPEN = "\u201c\u201e\u00ab\u00bb\u2018\u201a\u2039\u203a"  # unless they close one
_FLANKED = "\"'"  # straight marks: open at a word start, close at a word end
_OPEN_BEFORE = "([{\u2014\u2013-/:;"
_CLOSE_AFTER = ".,;:!?)]}\u2014\u2013-\u2026/"
_NOT_SPACED = "\u201c\u2018\u201e\u201a"  # only guillemets take French spacing
_YEAR = re.compile(r"\d\d(?:s\b|\b)")


def _quote_marks(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """``(offset, roles)`` of every quotation mark in ``[start, end)``, before pairing:
    roles holds "c" if the mark can close a quotation, "o" if it can open one.
    Apostrophes, and marks that can do neither, are left out."""
    marks: list[tuple[int, str]] = []
    for i in range(start, end):
        ch = text[i]
        if ch not in _KIND:
            continue
        prev = text[i - 1] if i > start else ""
        nxt = text[i + 1] if i + 1 < end else ""
        if ch in "'\u2019" and prev.isalnum() and nxt.isalnum():
            continue  # don't, Taliban's, 5'11
        if ch in _FLANKED or ch == "\u2019":
            word_end = bool(prev) and not prev.isspace()
            word_end = word_end and (not nxt or nxt.isspace() or nxt in _CLOSE_AFTER + _MARKS)
            spaced = ch == '"' and prev.isspace() and nxt.isspace()  # ... heart? " (stray space)
            word_start = bool(nxt) and not nxt.isspace() and ch != "\u2019"
            word_start = word_start and (
                not prev or prev.isspace() or prev in _OPEN_BEFORE + _MARKS
            )
            roles = ("c" if word_end or spaced else "") + ("o" if word_start else "")
        elif ch in _CLOSES:
            roles = "co" if ch in _ALWAYS_OPEN else "c"
        else:
            roles = "o"  # the German low marks
        if "o" in roles and (
            (_KIND[ch] == _SINGLE and _YEAR.match(text, i + 1))  # a year: the '90s
            or (ch in _NOT_SPACED and (not nxt or nxt.isspace()))  # a stray mark
        ):
            roles = roles.replace("o", "")
        if roles:
            marks.append((i, roles))
    return marks


@dataclass
class _Open:
    """A quotation being read: its marks and the fragments found so far."""

    mark_start: int
    kind: str
    fragments: list[tuple[int, int]] = field(default_factory=list)


def _find_quotes(
    text: str, paragraphs: list[tuple[int, int]]
) -> list[tuple[int, int, tuple[tuple[int, int], ...], bool]]:
    """``(mark_start, mark_end, fragments, closed)`` of every outermost quotation."""
    found: list[tuple[int, int, tuple[tuple[int, int], ...], bool]] = []
    carried: _Open | None = None
    for p_index, (p_start, p_end) in enumerate(paragraphs):
        stack: list[tuple[int, str]] = []  # (offset, mark) of open marks
        current = carried
        carried = None
        for i, roles in _quote_marks(text, p_start, p_end):
            ch = text[i]
            if "c" in roles and stack:
                depth = next(
                    (d for d in range(len(stack) - 1, -1, -1) if stack[d][1] in _CLOSES[ch]), -1
                )
                if depth >= 0:
                    del stack[depth + 1 :]
                    opened, _ = stack.pop()
                    if not stack:
                        assert current is not None
                        current.fragments.append(_strip(text, opened + 1, i))
                        found.append((current.mark_start, i + 1, tuple(current.fragments), True))
                        current = None
                    continue
            if "o" in roles:
                if stack and stack[0][1] == ch and current is not None:
                    # The same mark again (English does not nest “ in “): the first was
                    # left open, and its quotation ends where the next one begins.
                    current.fragments.append(_strip(text, stack[0][0] + 1, i))
                    found.append((current.mark_start, current.fragments[-1][1],
                                  tuple(current.fragments), False))  # fmt: skip
                    stack, current = [], None
                if not stack:
                    current = current or _Open(i, _KIND[ch])
                stack.append((i, ch))
        if not stack or current is None:
            continue
        opened = stack[0][0]
        current.fragments.append(_strip(text, opened + 1, p_end))
        nxt = paragraphs[p_index + 1] if p_index + 1 < len(paragraphs) else None
        if nxt is not None:
            first = text[nxt[0]]
            reopen = [r for o, r in _quote_marks(text, nxt[0], nxt[1]) if o == nxt[0]]
            if reopen and "o" in reopen[0] and _KIND[first] == current.kind:
                carried = current
                continue
        found.append((current.mark_start, p_end, tuple(current.fragments), False))
    return [q for q in found if any(c.isalnum() for s, e in q[2] for c in text[s:e])]


# --- attribution ---------------------------------------------------------------

_TITLES = (
    "Mr|Mrs|Ms|Mx|Dr|Prof|Sen|Rep|Gov|Gen|Lt|Col|Maj|Capt|Sgt|Adm|Cmdr|Rev|Fr|Sr|St|Hon|"
    "Pres|Supt|Insp|Det|Herr|Frau|Mme|Mlle|Sra|Srta|"
    "President|Secretary|Senator|Governor|Mayor|Judge|Justice|Minister|Chancellor|Professor|"
    "General|Colonel|Captain|Sheikh|Pope|King|Queen|Prince|Princess|Sir|Dame|Lord|Lady|"
    "Präsident|Kanzlerin|Kanzler|Ministerin|Président|Presidente|Ministre|Ministro"
)
_UPPER = "".join(chr(c) for c in range(0x41, 0x530) if chr(c).isupper())
_UP = "[" + re.escape(_UPPER) + "]"
_NOT_NAME = (
    r"(?!(?:The|A|An|In|On|At|By|For|From|With|But|And|Or|So|If|When|While|As|This|That|"
    r"These|Those|It|He|She|They|We|I|You|His|Her|Their|Our|My|Its|There|Then|Now|"
    r"Der|Die|Das|Ein|Eine|Er|Sie|Es|Le|La|Les|Un|Une|Il|Elle|El|Los|Las|Una|Él|Ella)\b)"
)
_WORD = rf"{_UP}(?:\.|[\w\u2019'\-]*\w)"
_PARTICLE = r"(?:(?:de|da|do|dos|du|van|von|der|den|ten|bin|ibn|al|el|la|le|del|di|y)\s+)"
_NAME = (
    rf"(?:(?:{_TITLES})\.?\s+)?{_NOT_NAME}{_WORD}"
    rf"(?:\s+{_PARTICLE}?{_NOT_NAME}{_WORD}){{0,4}}"
)
_TITLED = re.compile(rf"\b(?:{_TITLES})\.?\s+{_WORD}(?:\s+{_PARTICLE}?{_WORD}){{0,3}}")
# A role before a name, in lower case: "the president, Joseph R. Biden", "le président
# Emmanuel Macron". The name alone is the person.
_ROLES = (
    "president|secretary|senator|governor|mayor|minister|chancellor|spokesman|spokeswoman|"
    "spokesperson|chief|director|commander|leader|founder|official|"
    "präsident|präsidentin|kanzler|kanzlerin|minister|ministerin|sprecher|sprecherin|"
    "président|présidente|ministre|maire|porte-parole|presidente|ministro|ministra|alcalde|portavoz"
)
_ROLED = re.compile(
    rf"\b(?i:{_ROLES}),?\s+(?P<name>{_NOT_NAME}{_WORD}(?:\s+{_PARTICLE}?{_WORD}){{0,3}})"
)

_VERBS_EN = (
    "said|says|say|told|tells|added|adds|asked|asks|stated|states|explained|explains|"
    "wrote|writes|noted|notes|warned|warns|argued|argues|insisted|insists|claimed|claims|"
    "replied|replies|recalled|recalls|continued|declared|declares|acknowledged|"
    "admitted|conceded|countered|responded|observed|remarked|suggested|tweeted|"
    "stating|saying|telling|adding|concluded|concludes|commented|comments|announced|"
    "announces|continues|added in a statement"
)
_VERBS = {
    "en": _VERBS_EN,
    "de": "sagte|sagt|sagten|erklärte|erklärt|erklärten|betonte|betont|meinte|meint|"
    "schrieb|schreibt|warnte|warnt|fügte|ergänzte|sagte er|sagte sie",
    "fr": "a déclaré|a dit|a affirmé|a expliqué|a ajouté|a estimé|a souligné|a assuré|"
    "a écrit|a indiqué|a-t-il déclaré|a-t-elle déclaré|a-t-il dit|a-t-elle dit|"
    "a-t-il ajouté|a-t-elle ajouté|a-t-il expliqué|a-t-elle expliqué|déclare|dit|affirme|"
    "explique|ajoute|estime|souligne|assure|indique",
    "es": "dijo|afirmó|declaró|explicó|añadió|agregó|señaló|aseguró|indicó|escribió|"
    "advirtió|dice|afirma|declara|explica|añade|señala|asegura",
}
_ACCORDING = {
    "en": "according to",
    "de": "so|laut|zufolge",
    "fr": "selon|d'après|d\u2019après",
    "es": "según|de acuerdo con",
}
# Pronouns resolved to a person; plural ones ("they") are left unresolved.
_PRONOUNS = {"he", "she", "er", "sie", "il", "elle", "él", "ella"}
_PRONOUN = r"(?:he|she|they|we|i|er|sie|wir|ich|il|elle|ils|elles|on|él|ella|ellos|ellas)"


@dataclass(frozen=True)
class _CueRules:
    """The attribution patterns of one language (English ones always apply too)."""

    after: tuple[re.Pattern[str], ...]
    before: tuple[re.Pattern[str], ...]
    person: tuple[re.Pattern[str], ...]


_RULES: dict[str, _CueRules] = {}


def _rules(language: str) -> _CueRules:
    code = _code(language)
    code = code if code in _VERBS else "en"
    rules = _RULES.get(code)
    if rules is not None:
        return rules
    verbs = _VERBS["en"] if code == "en" else _VERBS[code] + "|" + _VERBS["en"]
    acc = _ACCORDING["en"] if code == "en" else _ACCORDING[code] + "|" + _ACCORDING["en"]
    # Names are case-sensitive (a capital starts each word), and so are verbs; pronouns
    # are not.
    # Verbs in lower case only: "States" in "the United States" is no verb.
    verb = rf"(?P<verb>\b(?:{verbs}))\b"
    according = rf"(?P<verb>\b(?i:{acc}))\b"
    appos = r"(?:,\s+[^,\"\u201c\u201d\u201e\u00ab\u00bb.;:!?]{1,100},)"
    named = rf"(?P<name>{_NAME})"
    pron = rf"(?P<pron>\b(?i:{_PRONOUN}))\b"
    np = r"(?P<np>(?:[\w\u2019'\-]+\s+){1,5}?)"  # a spokesman for the ministry
    words = r"(?P<np>(?:\s+[\w\u2019'\-]+){1,5})"
    obj = r"(?:\s+[\w\u2019'\-.]+){0,5}?"
    # French inversion: « … », a-t-il déclaré / « … », dit-elle
    inverted = r"(?P<verb>\b(?:a-t-(?P<pron>il|elle)\s+\w+|\w+-(?P<pron2>il|elle)))\b"
    lead = r"[\s,]*"
    rules = _CueRules(
        after=(
            re.compile(rf"{lead}{inverted}"),
            re.compile(rf"{lead}{verb}\s+{named}"),
            re.compile(rf"{lead}{named}(?:{appos}|,)?\s+{verb}"),
            re.compile(rf"{lead}{pron}\s+{verb}"),
            # the mayor, Jane Doe, said
            re.compile(rf"{lead}(?:[\w\u2019'\-]+\s+){{0,3}}[\w\u2019'\-]+,\s+{named},?\s+{verb}"),
            re.compile(rf"{lead}{according}\s+{named}"),
            re.compile(rf"{lead}{according}{words}"),
            re.compile(rf"{lead}{np}{verb}"),
            re.compile(rf"{lead}{verb}{words}"),
        ),
        before=(
            re.compile(rf"(?:^|[\s,(]){according}\s+{named},?\s*$"),
            re.compile(rf"{named}(?:{appos}|,)?\s+{verb}{obj}\s*[:,]?\s*$"),
            re.compile(rf"(?:^|\s){pron}\s+{verb}{obj}\s*[:,]?\s*$"),
            re.compile(rf"(?:^|\s){np}{verb}{obj}\s*[:,]?\s*$"),
        ),
        person=(
            re.compile(rf"{named}{appos}?\s+{verb}"),
            # Mr. Tedeschi also told the court that
            re.compile(rf"{named}\s+(?i:also|then|later|again|further|\w+ly)\s+{verb}"),
            re.compile(rf"{named},\s+(?:an?|the|one of|who)\s"),  # Tariq Arian, a spokesman
            re.compile(rf"{verb}\s+{named}"),
        ),
    )
    _RULES[code] = rules
    return rules


def _fix_name(text: str, start: int, end: int) -> tuple[int, int]:
    """A name match without a sentence's final period (``said Amiri.``)."""
    while end > start and text[end - 1] in ".,":
        if re.search(r"(?:^|\s)(?:[A-Z]|Jr|Sr)\.$", text[start:end]):
            break
        end -= 1
    return start, end


@dataclass(frozen=True)
class _Cue:
    text: str
    name: tuple[int, int] | None
    pronoun: bool


def _match_cue(m: re.Match[str], text: str) -> _Cue:
    """The cue's words (the whole match, less the punctuation around it), its name
    and whether it is a pronoun to resolve."""
    groups = m.groupdict()
    end = m.end()
    name: tuple[int, int] | None = None
    if groups.get("name"):
        name = _fix_name(text, m.start("name"), m.end("name"))
        if end == m.end("name"):
            end = name[1]
    pronoun = (groups.get("pron") or groups.get("pron2") or "").lower()
    cue = text[m.start() : end].strip(" \t,:(")
    return _Cue(cue, name, pronoun in _PRONOUNS)


# --- result --------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    """One sentence; ``paragraph`` is its index in ``Passages.paragraphs``."""

    id: int
    start: int
    end: int
    paragraph: int
    text: str


@dataclass(frozen=True)
class Quotation:
    """One direct quotation: the quoted words, where its marks stand, who said it.

    ``start``/``end`` run from the first fragment's start to the last one's end;
    ``fragments`` lists the quoted words of each paragraph the quote runs over (one
    fragment for most). ``mark_start``/``mark_end`` include the marks; a quotation
    left open (``closed=False``) has no closing mark, and its ``mark_end == end``.
    ``sentence`` is the id of the sentence its opening mark is in.
    ``speaker_start``/``speaker_end`` locate the name that ``speaker`` was read from,
    which for a pronoun or an unattributed follow-up quote is an earlier mention."""

    id: int
    start: int
    end: int
    mark_start: int
    mark_end: int
    text: str
    fragments: tuple[tuple[int, int], ...]
    sentence: int
    speaker: str | None
    speaker_start: int | None
    speaker_end: int | None
    cue: str | None
    closed: bool

    @property
    def words(self) -> int:
        return len(self.text.split())

    @property
    def short(self) -> bool:
        """At most three words and no cue of its own: likely a scare quote (the “deal”),
        not speech. ``“It’s so traumatic,” said Amiri`` is not short."""
        return self.words <= SHORT_QUOTE_WORDS and self.cue is None


@dataclass(frozen=True)
class Passages:
    """An article's paragraphs, sentences and quotations, in text order."""

    text: str
    sentences: list[Sentence]
    paragraphs: list[tuple[int, int]]
    quotations: list[Quotation]

    _starts: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", [s.start for s in self.sentences])

    def sentence_at(self, offset: int) -> Sentence | None:
        """The sentence that holds ``offset``; None between sentences."""
        i = bisect_right(self._starts, offset) - 1
        if i >= 0 and offset < self.sentences[i].end:
            return self.sentences[i]
        return None

    def inside_quotation(self, start: int, end: int) -> Quotation | None:
        """The quotation whose quoted words (one fragment of them) hold ``[start, end)``:
        text there is someone's speech, not the writer's statement."""
        for q in self.quotations:
            if any(fs <= start and end <= fe for fs, fe in q.fragments):
                return q
        return None


def _nearest_person(
    text: str,
    rules: _CueRules,
    window_start: int,
    before: int,
    quote_spans: list[tuple[int, int]],
    *,
    speaking: bool = False,
) -> tuple[int, int] | None:
    """The last person named in ``[window_start, before)`` outside any quotation
    (``speaking``: only one named beside a speech verb, "Heald said")."""
    best: tuple[int, int] | None = None
    # A role before a name ("the president, Joseph R. Biden") is the weakest sign: it is
    # used only when no person is named speaking or with a title ("Professor Eastman").
    tiers = [[*rules.person]] if speaking else [[*rules.person, _TITLED], [_ROLED]]
    for patterns in tiers:
        best = _last_named(text, patterns, window_start, before, quote_spans)
        if best is not None:
            return best
    return None


def _last_named(
    text: str,
    patterns: list[re.Pattern[str]],
    window_start: int,
    before: int,
    quote_spans: list[tuple[int, int]],
) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for pattern in patterns:
        for m in pattern.finditer(text, window_start, before):
            s, e = (m.start("name"), m.end("name")) if "name" in pattern.groupindex else m.span()
            s, e = _fix_name(text, s, e)
            if any(qs <= s < qe for qs, qe in quote_spans):
                continue
            if best is None or s > best[0]:
                best = (s, e)
    return best


def find_passages(text: str, language: str = "en") -> Passages:
    """Paragraphs, sentences and quotations of ``text`` (``language``: ISO 639-1;
    one pysbd does not know is segmented as English)."""
    paragraphs = [_strip(text, *m.span()) for m in _LINE.finditer(text)]
    paragraphs = [(s, e) for s, e in paragraphs if e > s]
    sentences = _sentences(text, paragraphs, language)
    starts = [s.start for s in sentences]

    def sentence_index(offset: int) -> int:
        return max(bisect_right(starts, offset) - 1, 0)

    rules = _rules(language)
    raw = _find_quotes(text, paragraphs)
    quote_spans = [(ms, me) for ms, me, _, _ in raw]
    quotations: list[Quotation] = []
    for n, (mark_start, mark_end, fragments, closed) in enumerate(raw):
        start, end = fragments[0][0], fragments[-1][1]
        first = sentence_index(mark_start)
        cue = _cue(text, rules, sentences, sentence_index, raw, n)
        speaker: tuple[int, int] | None = None
        if cue is not None and cue.name is not None:
            speaker = cue.name
        elif cue is not None and cue.pronoun:
            window = sentences[max(first - _PRONOUN_SENTENCES, 0)].start
            speaker = _nearest_person(text, rules, window, mark_start, quote_spans)
        elif cue is None and quotations:
            prev = quotations[-1]
            p_prev = sentences[sentence_index(prev.mark_end - 1)].paragraph
            p_this = sentences[first].paragraph
            opens_paragraph = paragraphs[p_this][0] == mark_start
            if prev.speaker_start is not None and (
                p_prev == p_this or (p_prev == p_this - 1 and opens_paragraph)
            ):
                assert prev.speaker_end is not None
                speaker = (prev.speaker_start, prev.speaker_end)
        if speaker is None:
            # No cue beside the marks: a person said to speak earlier in the sentence, or
            # in the one before it in the same paragraph ("Heald said although ...,
            # "nobody has looked at these together"").
            back = first
            if back > 0 and sentences[back - 1].paragraph == sentences[first].paragraph:
                back -= 1
            speaker = _nearest_person(
                text, rules, sentences[back].start, mark_start, quote_spans, speaking=True
            )
        quotations.append(
            Quotation(
                id=n + 1,
                start=start,
                end=end,
                mark_start=mark_start,
                mark_end=mark_end,
                text=" ".join(text[s:e] for s, e in fragments),
                fragments=fragments,
                sentence=sentences[first].id,
                speaker=text[speaker[0] : speaker[1]] if speaker else None,
                speaker_start=speaker[0] if speaker else None,
                speaker_end=speaker[1] if speaker else None,
                cue=cue.text if cue else None,
                closed=closed,
            )
        )
    return Passages(text, sentences, paragraphs, quotations)


def _cue(
    text: str,
    rules: _CueRules,
    sentences: list[Sentence],
    sentence_index: Callable[[int], int],
    raw: list[tuple[int, int, tuple[tuple[int, int], ...], bool]],
    n: int,
) -> _Cue | None:
    """The attribution next to quotation ``n``: after its closing mark, in the rest of
    that sentence (up to the next quotation), else before its opening mark, in its
    sentence (from the previous quotation on)."""
    mark_start, mark_end, _, closed = raw[n]
    if closed:
        last = sentences[sentence_index(mark_end - 1)]
        stop = min(last.end, mark_end + _CUE_WINDOW)
        if n + 1 < len(raw):
            stop = min(stop, raw[n + 1][0])
        if stop > mark_end:
            for pattern in rules.after:
                m = pattern.match(text, mark_end, stop)
                if m is not None:
                    return _match_cue(m, text)
    first = sentences[sentence_index(mark_start)]
    begin = max(first.start, mark_start - _CUE_WINDOW)
    if n > 0:
        begin = max(begin, raw[n - 1][1])
    if begin < mark_start:
        for pattern in rules.before:
            m = pattern.search(text, begin, mark_start)
            if m is not None:
                return _match_cue(m, text)
    return None
