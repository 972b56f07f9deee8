"""Cleaning what a scraper left: each rule, what it must never touch, and the offset map."""

from __future__ import annotations

import pytest

from summarizer.article import Article
from summarizer.clean import Removal, clean_text
from summarizer.errors import InputError
from summarizer.pipeline import summarize
from summarizer.verify import verify_summary
from tests.fake_openai import FakeOpenAI, tool_call_reply


def test_the_sample_loses_its_javascript_notice_share_buttons_and_repeated_captions(
    sample_text: str,
) -> None:
    cleaned = clean_text(sample_text)
    caption = "A truck in its bed near the rocket attack site in Kabul, Afghanistan, Saturday"
    assert [(r.reason, r.text.strip()) for r in cleaned.removed] == [
        ("JavaScript notice", "Sorry, you need to enable JavaScript to visit this website."),
        ("repeated line", caption),
        ("repeated line", "Carrying a boy's body killed in Saturday's Kabul attack"),
        ("share buttons", "Shariff share buttons"),
    ]
    assert cleaned.text.startswith("Rocket attack in Kabul, Mike Pompeo met")
    assert cleaned.text.endswith('"Even downtown isn\'t safe," Mr. Amiri said.\n')
    assert cleaned.text.count("A truck in its bed near the rocket attack site") == 1


def test_every_sentence_of_the_story_is_kept(sample_text: str) -> None:
    cleaned = clean_text(sample_text)
    for line in sample_text.splitlines():
        if line.strip() and line.strip() not in (
            "Sorry, you need to enable JavaScript to visit this website.",
            "Shariff share buttons",
        ):
            assert line in cleaned.text


def test_each_removal_records_the_exact_input_characters_and_offsets(sample_text: str) -> None:
    cleaned = clean_text(sample_text)
    for removal in cleaned.removed:
        assert sample_text[removal.start : removal.end] == removal.text
    assert len(cleaned.text) + sum(len(r.text) for r in cleaned.removed) == len(sample_text)


def test_offsets_in_the_cleaned_text_map_back_to_the_input(sample_text: str) -> None:
    cleaned = clean_text(sample_text)
    for offset in range(len(cleaned.text)):
        assert sample_text[cleaned.to_input(offset)] == cleaned.text[offset]
    quote = '"Security trust is gone," Mr. Amiri said.'
    start = cleaned.text.index(quote)
    assert sample_text[cleaned.to_input(start) :].startswith(quote)


def test_cleaning_twice_removes_nothing_more(sample_text: str) -> None:
    once = clean_text(sample_text)
    assert clean_text(once.text).removed == ()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Please enable JavaScript to view the comments.", "JavaScript notice"),
        ("JavaScript is disabled in your browser.", "JavaScript notice"),
        ("Shariff share buttons", "share buttons"),
        ("Share this article", "share buttons"),
        ("Facebook Twitter Email", "share buttons"),
        ("Share on WhatsApp", "share buttons"),
        (
            "We use cookies to improve your experience. By continuing to browse you agree to "
            "our use of cookies.",
            "cookie notice",
        ),
        ("This website uses cookies. Accept all", "cookie notice"),
        ("Accept all cookies", "cookie notice"),
        ("Advertisement", "banner"),
        ("Skip to main content", "banner"),
        ("Subscribe to our newsletter for the latest news", "banner"),
        ("Story continues below advertisement", "banner"),
    ],
)
def test_page_furniture_goes(line: str, reason: str) -> None:
    text = f"Rockets hit Kabul on Saturday.\n\n{line}\n\nEight civilians were killed.\n"
    cleaned = clean_text(text)
    assert cleaned.text == "Rockets hit Kabul on Saturday.\n\nEight civilians were killed.\n"
    assert [r.reason for r in cleaned.removed] == [reason]
    assert line in cleaned.removed[0].text


@pytest.mark.parametrize(
    "line",
    [
        "The JavaScript code was disabled, the company said.",
        "Regulators said the website uses cookies to track readers without consent.",
        '"Please enable JavaScript," the error message said.',  # quoted: part of the story
        "Share prices fell 4 percent on Monday.",
        "Advertisement revenue fell by a third, the publisher said.",
        "Read more about the plan in the report, he told reporters.",
    ],
)
def test_a_story_sentence_that_mentions_such_words_stays(line: str) -> None:
    text = f"First paragraph.\n\n{line}\n\nLast paragraph.\n"
    assert clean_text(text).removed == ()


def test_repeats_go_wherever_they_are_and_the_first_copy_stays() -> None:
    text = "Caption of the photo\nBody one.\n\nCaption  of the photo\n\nBody two.\n"
    cleaned = clean_text(text)
    assert cleaned.text == "Caption of the photo\nBody one.\n\nBody two.\n"
    assert cleaned.removed == (
        Removal(start=31, end=54, text="\nCaption  of the photo\n", reason="repeated line"),
    )


def test_paragraph_breaks_survive_a_removal_and_edges_lose_their_blank_lines() -> None:
    text = "\nAdvertisement\n\nOne.\n\n\nShare this article\n\n\nTwo.\n\nPrint"
    cleaned = clean_text(text)
    assert cleaned.text == "One.\n\n\nTwo.\n"
    assert [r.text for r in cleaned.removed] == [
        "\nAdvertisement\n\n",
        "\n\nShare this article\n",
        "\nPrint",
    ]


def test_a_clean_text_is_returned_unchanged() -> None:
    text = "Rockets hit Kabul.\n\n\nEight died.\n\n"
    cleaned = clean_text(text)
    assert cleaned.text == text and cleaned.removed == ()


def test_an_article_of_nothing_but_furniture_is_refused() -> None:
    article = Article.from_text("Advertisement\n\nShare this article\n", source="page.txt")
    with pytest.raises(InputError, match=r"page.txt: the article is only page furniture"):
        article.cleaned()


def test_article_cleaned_keeps_the_input_and_maps_offsets(sample_text: str) -> None:
    article = Article.from_text(sample_text).cleaned()
    assert article.input_text == sample_text
    assert article.cleaned() is article  # once only
    assert sample_text[article.to_input(0) :].startswith("Rocket attack in Kabul")


def test_a_summary_made_from_the_cleaned_text_verifies_against_the_file_as_given(
    sample_text: str, fake_openai: FakeOpenAI
) -> None:
    data = {
        "headline": "Rockets hit Kabul",
        "key_facts": [{"statement": "23 rockets.", "evidence": ["23 rockets had struck"]}],
        "parties": [],
        "open_questions": [],
        "source_quotes": [{"text": "Security trust is gone,", "speaker": "Mr. Amiri"}],
    }
    fake_openai.queue(tool_call_reply(data))
    result = summarize(sample_text, base_url=fake_openai.base_url, model="fake-model")
    assert result.meta.cleaning is not None  # the model saw a cleaned copy...
    checks = verify_summary(result.summary, sample_text)  # ...the offsets are the file's
    assert [c.status for c in checks] == ["ok", "ok", "ok"]
    cleaned = Article.from_text(sample_text).cleaned().text
    assert not all(c.ok for c in verify_summary(result.summary, cleaned))  # not the copy's
