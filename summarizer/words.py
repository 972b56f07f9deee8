"""Words a reader compares: numbers, content words and people's names.

One copy of each rule, used by the support checks (``checks.py``), by the merge of
a long article's parts (``longform.py``) and by ``summarizer eval``:

* **Numbers** are read as digit strings with thousands separators removed
  (``2,500`` is ``2500``); number words count as their value (``eight`` is ``8``,
  ``twenty-three`` is ``23``, ``two dozen`` gives ``2`` and ``12``), so "8 civilians"
  is supported by "eight civilians" and "$18 billion" by "18 billion dollars".
* **Content words** are words of three letters or more, stop words and number words
  left out, case-folded, with one final ``ing``/``ed``/``es``/``s``/``e`` removed
  (so "killed" meets "killing").
* **Names**: two names are one person when, titles such as "Mr." or "Secretary of
  State" aside, they end in the same word and the shorter's words are all in the
  longer ("Pompeo", "Mr. Pompeo", "Mike Pompeo"). Anything that is not a person
  matches on its whole name only, "the" and case aside.
"""

from __future__ import annotations

import re

from summarizer.grounding import normalize

__all__ = [
    "TITLES",
    "content_words",
    "guess_language",
    "name_words",
    "numbers_in",
    "same_name",
    "shares_a_name",
    "stem",
]

# fmt: off
_UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# fmt: on
_WORD_VALUES = {
    **{w: i for i, w in enumerate(_UNITS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
    "dozen": 12,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
}
_NUMBER = re.compile(
    r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\w)|\d+(?:\.\d+)?|"
    rf"\b(?:{'|'.join(_TENS)})-(?:{'|'.join(_UNITS[1:10])})\b|"
    rf"\b(?:{'|'.join(_WORD_VALUES)})\b",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[^\W\d_]+")
_NAME_WORD = re.compile(r"[^\W_]+")
# fmt: off
_STOP = {
    "the", "and", "for", "that", "with", "was", "were", "are", "has", "had", "have", "from",
    "this", "these", "those", "into", "its", "his", "her", "their", "they", "them", "been",
    "being", "said", "says", "say", "after", "over", "about", "than", "which", "who", "whom",
    "whose", "not", "but", "also", "least", "more", "most", "some", "any", "all", "per",
    "while", "when", "where", "what", "there", "here", "out", "off", "our", "your", "you",
    "she", "him", "how", "why", "can", "could", "would", "should", "will", "may", "might",
    "did", "does", "told", "according", "added", "one", "new", "other", "such", "only",
}
TITLES = {
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "sen", "rep", "gov", "gen",
    "col", "capt", "lt", "sgt", "president", "vice", "prime", "minister", "secretary",
    "state", "of", "the", "senator", "governor", "general", "spokesman", "spokeswoman",
    "herr", "frau", "m", "mme", "sr", "sra", "don",
}
# fmt: on
"""Words that are part of how a person is addressed, not of who they are."""


def _number_value(token: str) -> str:
    word = token.lower()
    if "-" in word and not word[0].isdigit():
        tens, unit = word.split("-")
        return str(_WORD_VALUES[tens] + _WORD_VALUES[unit])
    if word in _WORD_VALUES:
        return str(_WORD_VALUES[word])
    value = word.replace(",", "")
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    return value


def numbers_in(text: str) -> set[str]:
    """The numbers in ``text``, as digit strings: "2,500 troops and eight" -> {"2500", "8"}."""
    return {_number_value(m.group()) for m in _NUMBER.finditer(normalize(text))}


def stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Stemmed words of 3+ letters that are neither stop words nor number words."""
    return {
        stem(w)
        for w in _LETTERS.findall(normalize(text).casefold())
        if len(w) >= 3 and w not in _STOP and w not in _WORD_VALUES
    }


def name_words(name: str, person: bool = True) -> list[str]:
    """The words that name: a person's without titles; anything else's without "the"."""
    ignored = TITLES if person else {"the"}
    return [w for w in _NAME_WORD.findall(normalize(name).casefold()) if w not in ignored]


def _plain(name: str) -> str:
    return " ".join(name.casefold().split())


def same_name(a: str, b: str, *, person: bool = True) -> bool:
    """One party under two names, by the rule in the module docstring."""
    wa, wb = name_words(a, person), name_words(b, person)
    if not wa or not wb:
        return _plain(a) == _plain(b)
    if wa == wb:
        return True
    if person:
        short, long = sorted((wa, wb), key=len)
        return short[-1] == long[-1] and set(short) <= set(long)
    return False


def shares_a_name(a: str, b: str) -> bool:
    """Looser than :func:`same_name`: the two share a name word ("Amiri", "Farid Amiri")."""
    wa = {w for w in name_words(a) if len(w) >= 2}
    return bool(wa & {w for w in name_words(b) if len(w) >= 2})


_COMMON = {
    "en": {"the", "and", "of", "to", "in", "is", "that", "was", "said", "for", "with", "on"},
    "de": {"der", "die", "und", "das", "ist", "nicht", "mit", "sich", "auf", "den", "ein", "von"},
    "fr": {"le", "la", "les", "et", "des", "est", "une", "pour", "dans", "qui", "que", "du"},
    "es": {"el", "la", "los", "las", "y", "que", "del", "en", "por", "una", "con", "para"},
    "it": {"il", "di", "che", "e", "della", "per", "una", "sono", "con", "non", "gli", "nel"},
    "nl": {"de", "het", "een", "en", "van", "is", "dat", "niet", "op", "met", "voor", "zijn"},
    "pt": {"o", "os", "e", "que", "do", "da", "em", "um", "uma", "para", "com", "não"},
}


def guess_language(text: str) -> str:
    """The article's language (ISO 639-1) by its commonest words; "en" when unsure.

    Enough to pick a sentence segmenter's rules: it looks at the first 5,000
    characters and needs a clear lead, not a language model.
    """
    words = _NAME_WORD.findall(text[:5000].casefold())
    if not words:
        return "en"
    counts = {code: sum(w in common for w in words) for code, common in _COMMON.items()}
    best = max(counts, key=lambda code: counts[code])
    return best if counts[best] > 1.2 * counts["en"] or best == "en" else "en"
