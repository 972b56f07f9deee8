# ruff: noqa: RUF001
"""Sentences, paragraphs and attributed quotations, found before any model call.

The first tests read the sample article in examples/ (a real story, with its real
quirks: a straight opening mark closed by a curly one, a stray space before it,
headlines without a final period). The others are short news-style passages, one
rule each.
"""

from __future__ import annotations

import time

import pytest

from summarizer.passages import Passages, Quotation, find_passages
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def kabul() -> Passages:
    return find_passages(SAMPLE.read_text("utf-8"))


def only(passages: Passages) -> Quotation:
    assert len(passages.quotations) == 1, passages.quotations
    return passages.quotations[0]


# --- the sample article ------------------------------------------------------------


def test_sample_paragraphs_and_sentences(kabul: Passages) -> None:
    text = kabul.text
    assert len(kabul.paragraphs) == 32
    assert len(kabul.sentences) == 45
    assert [s.id for s in kabul.sentences] == list(range(1, 46))
    for s in kabul.sentences:
        p_start, p_end = kabul.paragraphs[s.paragraph]
        assert p_start <= s.start < s.end <= p_end
        assert text[s.start : s.end] == s.text == s.text.strip()
        assert "\n" not in s.text
    # A headline line is a sentence of its own, though it has no final period.
    assert kabul.sentences[2].text == (
        "Fresh Assault Struck Kabul as Pompeo expected to address Afghan Warring Parties"
    )


def test_sample_abbreviations_stay_inside_their_sentence(kabul: Passages) -> None:
    texts = [s.text for s in kabul.sentences]
    assert texts[13] == (
        "This week the Pentagon announced it would cut the number of U.S. forces in "
        "Afghanistan by almost half—to 2,500, from 4,500 by mid-January."
    )
    assert texts[38] == (
        "Three gunmen attacked Kabul University on Nov. 2, killing at least 22 people, "
        "including students."
    )
    assert texts[18].startswith('The U.S. can "sit on side and help where we can," Mr. Pompeo')


def test_sample_lone_closing_mark_joins_its_sentence(kabul: Passages) -> None:
    # pysbd returns the final "”" as a sentence of its own.
    assert kabul.sentences[39].text == '"Security trust is gone," Mr. Amiri said.'
    assert kabul.sentences[40].text == "\"What happens in Kabul's heart? ”"


def test_sample_quotations_and_speakers(kabul: Passages) -> None:
    got = [(q.id, q.text, q.speaker, q.cue, q.sentence) for q in kabul.quotations]
    assert got == [
        (1, "sit on side and help where we can,", "Mr. Pompeo", "Mr. Pompeo told", 19),
        (
            2,
            "I'd be most interested in getting your thoughts on how to increase the "
            "likelihood of successful outcome I know we share.",
            "Mr. Pompeo",
            None,
            20,
        ),
        (3, "It's so traumatic,", "Amiri", "said Amiri", 35),
        (4, "Security trust is gone,", "Mr. Amiri", "Mr. Amiri said", 40),
        (5, "What happens in Kabul's heart?", "Mr. Amiri", None, 41),
        (6, "Even downtown isn't safe,", "Mr. Amiri", "Mr. Amiri said", 44),
    ]
    text = kabul.text
    for q in kabul.quotations:
        assert text[q.start : q.end] == q.text
        assert q.fragments == ((q.start, q.end),)
        assert q.closed
        assert not q.short  # "It's so traumatic," has three words, but a cue
        assert q.speaker_start is not None and q.speaker_end is not None
        assert text[q.speaker_start : q.speaker_end] == q.speaker


def test_sample_mixed_marks_and_offsets(kabul: Passages) -> None:
    text = kabul.text
    q5 = kabul.quotations[4]
    # A straight mark opens, a curly one after a stray space closes.
    assert text[q5.mark_start : q5.mark_end] == "\"What happens in Kabul's heart? ”"
    assert q5.mark_start == text.index('"What happens')
    assert q5.start == q5.mark_start + 1
    # An unattributed quote that follows an attributed one in the same paragraph
    # takes its speaker, with the offsets of the earlier mention.
    q4 = kabul.quotations[3]
    assert (q5.speaker_start, q5.speaker_end) == (q4.speaker_start, q4.speaker_end)
    assert q4.speaker_start == text.index("Mr. Amiri said. ")
    q2 = kabul.quotations[1]
    assert q2.speaker_start == text.index("Mr. Pompeo told")


def test_sample_lookups(kabul: Passages) -> None:
    text = kabul.text
    at = text.index("trust is gone")
    sentence = kabul.sentence_at(at)
    assert sentence is not None and sentence.id == 40
    quote = kabul.inside_quotation(at, at + len("trust is gone"))
    assert quote is not None and quote.id == 4
    said = text.index("Mr. Amiri said. ")
    assert kabul.inside_quotation(said, said + 9) is None
    # A span that starts inside a quote and runs past its closing mark is not quoted.
    assert kabul.inside_quotation(at, said + 9) is None
    # Between two sentences there is only whitespace, which no sentence holds.
    assert kabul.sentence_at(kabul.sentences[0].end) is None


def test_fifty_thousand_characters_in_well_under_a_second() -> None:
    article = SAMPLE.read_text("utf-8")
    long = "\n\n".join([article] * 10)
    one_paragraph = " ".join([" ".join(article.split())] * 10)  # no line break: chunked
    assert len(long) > 50_000 and len(one_paragraph) > 50_000
    started = time.perf_counter()
    by_line = find_passages(long)
    joined = find_passages(one_paragraph)
    assert time.perf_counter() - started < 2.0  # both together; each takes ~0.2 s
    assert len(by_line.sentences) == 10 * 45
    assert len(by_line.quotations) == len(joined.quotations) == 10 * 6
    for s in joined.sentences:
        assert one_paragraph[s.start : s.end] == s.text


# --- sentences ---------------------------------------------------------------------


def test_titles_initials_and_times_do_not_end_sentences() -> None:
    text = (
        "Sen. Elizabeth Warren met Gov. Gavin Newsom at 9 a.m. on Monday in the U.S. "
        "capital. Mr. Smith said no."
    )
    assert [s.text for s in find_passages(text).sentences] == [
        "Sen. Elizabeth Warren met Gov. Gavin Newsom at 9 a.m. on Monday in the U.S. capital.",
        "Mr. Smith said no.",
    ]
    text = "The rockets hit at 9 a.m. Police arrived an hour later."
    assert [s.text for s in find_passages(text).sentences] == [
        "The rockets hit at 9 a.m.",
        "Police arrived an hour later.",
    ]


def test_repeated_sentences_get_their_own_offsets() -> None:
    passages = find_passages("No comment. No comment. No comment.")
    assert [(s.start, s.end) for s in passages.sentences] == [(0, 11), (12, 23), (24, 35)]


def test_ellipsis_after_a_number_stays_whole() -> None:
    # pysbd returns "Officials counted 23..", then ". " as a sentence of its own.
    text = "Officials counted 23... Then more rockets fell."
    assert [s.text for s in find_passages(text).sentences] == [
        "Officials counted 23...",
        "Then more rockets fell.",
    ]


def test_a_sentence_never_spans_a_line_break() -> None:
    text = "Rocket attack in Kabul\nPompeo meets the Taliban in Doha\n\nHe arrived on Saturday."
    passages = find_passages(text)
    assert [s.text for s in passages.sentences] == [
        "Rocket attack in Kabul",
        "Pompeo meets the Taliban in Doha",
        "He arrived on Saturday.",
    ]
    assert [s.paragraph for s in passages.sentences] == [0, 1, 2]
    assert passages.paragraphs == [(0, 22), (23, 55), (57, 80)]


def test_unknown_language_falls_back_to_english() -> None:
    text = "Mr. Pompeo arrived in Doha. He met the negotiators."
    assert [s.text for s in find_passages(text, language="xx").sentences] == [
        "Mr. Pompeo arrived in Doha.",
        "He met the negotiators.",
    ]
    assert len(find_passages(text, language="de-AT").sentences) == 2


def test_empty_text() -> None:
    passages = find_passages("  \n\n ")
    assert passages.sentences == passages.quotations == passages.paragraphs == []
    assert passages.sentence_at(0) is None


# --- quotation marks ---------------------------------------------------------------


def test_nested_quote_is_one_quotation() -> None:
    text = "“He said ‘no’ to me,” she said."
    q = only(find_passages(text))
    assert text[q.start : q.end] == "He said ‘no’ to me,"
    assert (q.mark_start, q.mark_end) == (0, 21)
    assert q.cue == "she said"


def test_apostrophes_are_not_quote_marks() -> None:
    text = (
        "In the ’90s, the Taliban’s fighters didn’t care. “It’s so traumatic,” said "
        "Amiri. The players' union and the players’ families agreed."
    )
    q = only(find_passages(text))
    assert q.text == "It’s so traumatic,"
    assert q.speaker == "Amiri"
    assert text[q.speaker_start or 0 : q.speaker_end] == "Amiri"
    # A straight mark before a year does not open a quote that "players'" would close.
    assert find_passages("Rockets were rare in the '90s, the players' union said.").quotations == []


def test_single_quotes() -> None:
    text = "‘We had no choice,’ Mr. Brown said. 'It was the only road out.'"
    first, second = find_passages(text).quotations
    assert first.text == "We had no choice,"
    assert first.speaker == "Mr. Brown"
    assert second.text == "It was the only road out."
    assert second.speaker == "Mr. Brown"  # the next quote in the paragraph
    assert second.cue is None


def test_scare_quotes_are_short() -> None:
    text = "Officials called it a “deal” that nobody wanted, and a “very bad deal” at that."
    deal, bad = find_passages(text).quotations
    assert (deal.text, deal.words, deal.short) == ("deal", 1, True)
    assert (bad.text, bad.words, bad.short) == ("very bad deal", 3, True)
    assert deal.cue is None and deal.speaker is None


def test_quote_over_several_paragraphs_is_one_quotation() -> None:
    text = (
        "“I heard the first rocket when I opened the shop,” Mr. Amiri said. “Then the "
        "second one hit the street.\n\n"
        "“We closed the doors and waited for the police.”\n\n"
        "The police came an hour later."
    )
    passages = find_passages(text)
    first, second = passages.quotations
    assert first.speaker == "Mr. Amiri"
    assert second.fragments == (
        (text.index("Then the"), text.index(" street.") + 8),
        (text.index("We closed"), text.index("police.”") + 7),
    )
    assert [text[s:e] for s, e in second.fragments] == [
        "Then the second one hit the street.",
        "We closed the doors and waited for the police.",
    ]
    assert (second.start, second.end) == (second.fragments[0][0], second.fragments[1][1])
    assert second.text == (
        "Then the second one hit the street. We closed the doors and waited for the police."
    )
    assert second.closed
    assert second.speaker == "Mr. Amiri"
    inside = text.index("waited")
    assert passages.inside_quotation(inside, inside + 6) is second
    # The paragraph break between the fragments is not quoted words.
    assert passages.inside_quotation(text.index("street."), text.index("We closed")) is None


def test_unclosed_mark_ends_with_its_paragraph() -> None:
    text = (
        "He said the talks were “close to a breakthrough.\n\n"
        "Negotiators met again on Sunday. “We are not there yet,” Smith told reporters."
    )
    stray, quote = find_passages(text).quotations
    assert stray.text == "close to a breakthrough."
    assert not stray.closed
    assert stray.mark_end == stray.end == text.index("\n")
    assert quote.text == "We are not there yet,"
    assert quote.closed
    assert (quote.speaker, quote.cue) == ("Smith", "Smith told")


def test_stray_mark_does_not_swallow_the_next_quote() -> None:
    text = "The sign read “ closed. Later “we will reopen soon,” said Ms. Lee."
    q = only(find_passages(text))
    assert q.text == "we will reopen soon,"
    assert q.speaker == "Ms. Lee"


def test_straight_quote_opened_twice_is_cut_before_the_second() -> None:
    text = 'He called it "a disgrace and then "we will fight it," she said.'
    first, second = find_passages(text).quotations
    assert (first.text, first.closed) == ("a disgrace and then", False)
    assert (second.text, second.closed) == ("we will fight it,", True)
    assert second.cue == "she said"


def test_french_guillemets_with_spaces() -> None:
    text = "Emmanuel Macron a déclaré : « Nous allons gagner cette bataille. »"
    q = only(find_passages(text, language="fr"))
    assert text[q.start : q.end] == "Nous allons gagner cette bataille."
    assert text[q.mark_start : q.mark_end] == "« Nous allons gagner cette bataille. »"
    assert (q.speaker, q.speaker_start, q.cue) == (
        "Emmanuel Macron",
        0,
        "Emmanuel Macron a déclaré",
    )


def test_french_inverted_pronoun_is_resolved() -> None:
    text = (
        "Le président Emmanuel Macron s’est exprimé lundi. "
        "« Nous ne reculerons pas », a-t-il déclaré devant la presse."
    )
    q = only(find_passages(text, language="fr"))
    assert q.text == "Nous ne reculerons pas"
    assert (q.speaker, q.speaker_start, q.cue) == ("Emmanuel Macron", 13, "a-t-il déclaré")


def test_french_selon() -> None:
    q = only(find_passages("« C’est une victoire », selon Emmanuel Macron.", language="fr"))
    assert (q.text, q.speaker, q.cue) == (
        "C’est une victoire",
        "Emmanuel Macron",
        "selon Emmanuel Macron",
    )


def test_german_marks() -> None:
    text = "„Wir schaffen das“, sagte Angela Merkel am Montag in Berlin."
    q = only(find_passages(text, language="de"))
    assert (q.text, q.speaker, q.cue) == (
        "Wir schaffen das",
        "Angela Merkel",
        "sagte Angela Merkel",
    )
    assert (q.mark_start, q.mark_end) == (0, 18)
    q = only(find_passages("»Das ist ein guter Tag für Europa«, so Scholz.", language="de"))
    assert (q.text, q.speaker, q.cue) == ("Das ist ein guter Tag für Europa", "Scholz", "so Scholz")
    text = "Bundeskanzler Olaf Scholz sagte: „Wir lassen niemanden allein.“ Dann reiste er ab."
    q = only(find_passages(text, language="de"))
    assert q.text == "Wir lassen niemanden allein."
    assert q.speaker == "Bundeskanzler Olaf Scholz"


def test_spanish_dijo() -> None:
    q = only(find_passages("“Es un día histórico”, dijo Pedro Sánchez.", language="es"))
    assert (q.text, q.speaker, q.cue) == (
        "Es un día histórico",
        "Pedro Sánchez",
        "dijo Pedro Sánchez",
    )


# --- attribution -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "speaker", "cue"),
    [
        (
            "“We are not done,” said Gov. Gavin Newsom.",
            "Gov. Gavin Newsom",
            "said Gov. Gavin Newsom",
        ),
        ("“The decision is final,” Smith told reporters.", "Smith", "Smith told"),
        (
            "Mayor Jane Doe said: “We will rebuild the bridge.”",
            "Mayor Jane Doe",
            "Mayor Jane Doe said",
        ),
        (
            "Jane Doe, the mayor, said “the bridge will reopen in May.”",
            "Jane Doe",
            "Jane Doe, the mayor, said",
        ),
        (
            "“We will not leave,” the mayor, Jane Doe, said.",
            "Jane Doe",
            "the mayor, Jane Doe, said",
        ),
        (
            "According to John Smith, “the talks have failed.”",
            "John Smith",
            "According to John Smith",
        ),
        (
            "“The talks have failed,” according to John Smith.",
            "John Smith",
            "according to John Smith",
        ),
        ("“The talks have failed,” a Taliban spokesman said.", None, "a Taliban spokesman said"),
        ("“The talks have failed,” they said.", None, "they said"),
        ("“The talks have failed,” he said.", None, "he said"),  # nobody named before
        ("“Why did it take so long?” she asked.", None, "she asked"),
        ("“We will win.” He said it twice.", None, None),  # another sentence: no cue
    ],
)
def test_attribution_patterns(text: str, speaker: str | None, cue: str | None) -> None:
    q = only(find_passages(text))
    assert (q.speaker, q.cue) == (speaker, cue)
    if speaker is not None:
        assert q.speaker_start is not None
        assert text[q.speaker_start : q.speaker_end] == speaker


def test_interrupted_quote_has_the_speaker_on_both_sides() -> None:
    text = "“We will fight,” Smith said, “and we will win.”"
    first, second = find_passages(text).quotations
    assert (first.text, first.speaker, first.cue) == ("We will fight,", "Smith", "Smith said")
    assert (second.text, second.speaker, second.cue) == ("and we will win.", "Smith", "Smith said")


def test_pronoun_resolves_to_the_person_named_before() -> None:
    text = (
        "Fawzia Koofi, one of the negotiators of the Afghan government, spoke after the "
        "meeting. “We asked for a cease-fire,” she said."
    )
    q = only(find_passages(text))
    assert (q.speaker, q.speaker_start, q.cue) == ("Fawzia Koofi", 0, "she said")
    text = (
        "Dr. Maria Lopez runs the clinic. “We see forty patients a day,” she said. "
        "“Most of them are children.”"
    )
    first, second = find_passages(text).quotations
    assert (first.speaker, first.speaker_start, first.cue) == ("Dr. Maria Lopez", 0, "she said")
    assert (second.speaker, second.cue) == ("Dr. Maria Lopez", None)


def test_names_inside_a_quote_are_not_speakers() -> None:
    text = (
        "Tariq Arian, a spokesman for the ministry, spoke on Monday. "
        "“Mr. Biden will not change this,” he said."
    )
    q = only(find_passages(text))
    assert (q.speaker, q.speaker_start) == ("Tariq Arian", 0)


def test_pronoun_too_far_back_stays_unresolved() -> None:
    text = (
        "Mr. Amiri owns a bakery. It opened in 2015. The street is busy. "
        "Rockets fell nearby. “Security trust is gone,” he said."
    )
    q = only(find_passages(text))
    assert (q.speaker, q.cue) == (None, "he said")


def test_a_quote_without_a_cue_takes_the_person_said_to_speak_before_it() -> None:
    # Wikinews, "Scientists analyse effects of global warming, atmospheric ozone on crops"
    text = (
        "Heald said although temperature and ozone are separately known to impact crop "
        'yields, "nobody has looked at these together". Depending on region, yields vary.'
    )
    (quote,) = find_passages(text).quotations
    assert (quote.text, quote.speaker, quote.cue) == (
        "nobody has looked at these together",
        "Heald",
        None,
    )
    assert quote.speaker_start is not None and text[quote.speaker_start :].startswith("Heald")


def test_a_speaker_and_verb_may_have_an_adverb_between_them() -> None:
    # Wikinews, "Australian homeopath's trial" (examples/dev)
    text = (
        "Mr. Tedeschi also told the court that, over the last five months of her life, "
        '"Gloria\'s eczema played a devastating role in her overall health."'
    )
    (quote,) = find_passages(text).quotations
    assert quote.speaker == "Mr. Tedeschi"


def test_a_capitalised_word_is_no_speech_verb() -> None:
    # Wikinews, "Australian study finds iodine deficiency" (examples/dev): "States" in
    # "the United States" once made "United" the speaker that "he" stood for.
    text = (
        "Professor Eastman says manufacturers could use iodised salt in line with the "
        'United States and most European countries. "I suspect they won\'t do that," he said.'
    )
    (quote,) = find_passages(text).quotations
    assert (quote.speaker, quote.cue) == ("Professor Eastman", "he said")
