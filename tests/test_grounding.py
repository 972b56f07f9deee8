"""Locating quotes: each normalisation rule, the ellipsis rule, and offsets back into the text."""

from __future__ import annotations

import pytest

from summarizer.grounding import MIN_FRAGMENT_CHARS, SourceIndex, locate, normalize

ARTICLE = (
    "KABUL — Officials said 23 rockets struck.\n\n"
    "“It’s so traumatic,” said Amiri.   The city’s  centre\nwas hit.\n"
    '"Security trust is gone," Mr. Amiri said. "What happens in Kabul\'s heart? ”'
)


def at(quote: str, text: str = ARTICLE) -> str:
    found = locate(quote, text)
    assert found is not None, quote
    return text[found.start : found.end]


def test_exact_substring_gives_its_offsets() -> None:
    found = locate("Officials said 23 rockets struck.", ARTICLE)
    assert found is not None
    assert (found.start, found.end) == (8, 41)


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        ("It's so traumatic,", "It’s so traumatic,"),  # straight vs curly apostrophe
        ('"It\'s so traumatic," said Amiri.', "“It’s so traumatic,” said Amiri."),  # quotes
        ("KABUL - Officials", "KABUL — Officials"),  # em dash vs hyphen
        ("said Amiri. The city's centre was hit.", "said Amiri.   The city’s  centre\nwas hit."),
        ("   Security trust is gone,   ", "Security trust is gone,"),  # outer whitespace
        ('"Security trust is gone,"', "Security trust is gone,"),  # wrapping marks dropped
        ("“What happens in Kabul's heart?", "\"What happens in Kabul's heart?"),  # one mark kept
    ],
)
def test_normalisation_rules(quote: str, expected: str) -> None:
    assert at(quote) == expected


def test_wrapping_quotation_marks_are_ignored() -> None:
    assert at("“Officials said 23 rockets struck.”") == "Officials said 23 rockets struck."


def test_nfkc_maps_ligatures_and_fullwidth_and_offsets_stay_in_the_original() -> None:
    text = "The ﬁrst report: ＫＡＢＵＬ was hit… again."
    assert normalize(text) == "The first report: KABUL was hit... again."
    assert at("first report: KABUL", text) == "ﬁrst report: ＫＡＢＵＬ"
    assert at("was hit... again", text) == "was hit… again"


def test_a_changed_word_is_not_found() -> None:
    assert locate("Officials said 24 rockets struck.", ARTICLE) is None
    assert locate("Officials Said 23 rockets struck.", ARTICLE) is None  # case matters


def test_only_the_first_letters_case_is_ignored() -> None:
    """Seen from the 1.5B model: "The Pentagon announced" for "...week the Pentagon announced"."""
    assert at("officials said 23 rockets struck.") == "Officials said 23 rockets struck."
    assert at("the city's centre") == "The city’s  centre"
    text = "This week the Pentagon announced it would cut troops."
    assert at("The Pentagon announced it would cut troops.", text) == text[10:]


def test_case_can_be_ignored_for_speakers() -> None:
    found = locate("mr. amiri", ARTICLE, ignore_case=True)
    assert found is not None
    assert ARTICLE[found.start : found.end] == "Mr. Amiri"


def test_empty_quote_is_never_found() -> None:
    assert locate("  ", ARTICLE) is None
    assert locate('""', ARTICLE) is None


def test_ellipsis_fragments_found_in_order() -> None:
    found = locate("Officials said 23 rockets ... The city's centre was hit", ARTICLE)
    assert found is not None
    assert len(found.fragments) == 2
    first, second = found.fragments
    assert ARTICLE[first[0] : first[1]] == "Officials said 23 rockets"
    assert ARTICLE[second[0] : second[1]] == "The city’s  centre\nwas hit"
    assert (found.start, found.end) == (first[0], second[1])


def test_ellipsis_fragments_out_of_order_are_rejected() -> None:
    assert locate("The city's centre was hit ... Officials said 23 rockets", ARTICLE) is None


def test_ellipsis_with_a_short_fragment_is_rejected() -> None:
    short = "x" * (MIN_FRAGMENT_CHARS - 1)
    assert locate(f"Officials said 23 rockets ... {short}", ARTICLE + short) is None


def test_joined_quotes_from_two_places_are_rejected() -> None:
    """Seen from the 1.5B model: two quotes glued into one evidence string."""
    joined = "Security trust is gone,', 'Mr. Amiri said"
    assert locate(joined, ARTICLE) is None


def test_index_reuse_returns_same_answers() -> None:
    index = SourceIndex(ARTICLE)
    for quote in ("Security trust is gone", "KABUL - Officials", "nowhere to be seen"):
        direct = locate(quote, ARTICLE)
        assert index.locate(quote) == direct


def _every_offset(text: str) -> tuple[str, list[int]]:
    """The rules applied one character at a time: the plain reference for the index's map."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for norm in normalize(ch) if not ch.isspace() else " ":
            if norm == " " and out and out[-1] == " " and where and text[where[-1]].isspace():
                continue  # a run of whitespace is one space, at the run's first character
            out.append(norm)
            where.append(i)
    return "".join(out), where


@pytest.mark.parametrize("seed", range(5))
def test_offsets_map_back_through_every_rule_at_once(seed: int) -> None:
    """The index keeps only where offsets shift (a long article costs little); every
    located passage still ends exactly on the article's own characters."""
    import random

    rng = random.Random(seed)
    alphabet = [*"ab c.\n\t", "  ", "\u00a0", "\u2026", "\ufb01", "\uff21", "\u2019", "\u2014"]
    text = "".join(rng.choice(alphabet) for _ in range(400))
    norm, where = _every_offset(text)
    assert normalize(text) == norm
    index = SourceIndex(text)
    for _ in range(50):
        start = rng.randrange(len(norm))
        end = min(len(norm), start + rng.randint(1, 30))
        passage = norm[start:end]
        if not passage.strip() or not passage[0].isalnum() or passage != passage.strip():
            continue
        found = index.locate(passage)
        assert found is not None
        first = norm.find(passage)
        assert (found.start, found.end) == (where[first], where[first + len(passage) - 1] + 1)
