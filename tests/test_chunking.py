"""The offline token estimate and the paragraph split."""

from __future__ import annotations

import itertools

import pytest

from summarizer.chunking import estimate_tokens, split_text
from summarizer.clean import clean_text

# What Qwen2.5's tokenizer (the local model's, via llama.cpp) counted for these texts
# on 2026-11-26; the estimate must never be under it, and not far over for prose.
MEASURED = [
    ("Rockets hit central Kabul on Saturday, killing at least eight civilians.", 14),
    ("In 2024, 1,234,567 people (12.5%) paid $3.99 each; see https://example.com/a/b?c=1.", 44),
    ("中华人民共和国国务院总理今天在北京表示\uff0c经济将继续稳定增长。", 13),
]


@pytest.mark.parametrize(("text", "real"), MEASURED)
def test_the_estimate_is_never_under_the_real_count(text: str, real: int) -> None:
    estimate = estimate_tokens(text)
    assert estimate >= real


def test_the_estimate_of_english_prose_is_close(sample_text: str) -> None:
    # The tokenizer counted 1,052 tokens in the sample article.
    assert 1052 <= estimate_tokens(sample_text) <= 1052 * 1.25


def test_the_estimate_by_character_class() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("   \n\n ") == 0
    assert estimate_tokens("Kabul") == 1  # a word of up to 7 letters
    assert estimate_tokens("Afghanistan") == 2  # 1 + one per 6 further letters
    assert estimate_tokens("2,500") == 5  # digits one by one, a comma alone
    assert estimate_tokens("...") == 2  # punctuation by pairs
    assert estimate_tokens("café") == 2  # "caf" and the é


def test_a_short_text_is_one_chunk() -> None:
    text = "One paragraph.\n\nAnother.\n"
    assert [(c.start, c.end) for c in split_text(text, 100)] == [(0, len(text))]


def test_chunks_fit_the_budget_cut_between_paragraphs_and_overlap(sample_text: str) -> None:
    text = clean_text(sample_text).text
    chunks = split_text(text, 500)
    assert len(chunks) == 3
    assert all(c.tokens <= 500 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for before, after in itertools.pairwise(chunks):
        assert text[after.start - 2 : after.start] == "\n\n"  # starts a paragraph
        assert after.start < before.end  # and repeats the previous chunk's last one
        overlap = text[after.start : before.end]
        assert overlap.strip() and estimate_tokens(overlap) <= 500 * 0.15


def test_no_overlap_when_asked(sample_text: str) -> None:
    text = clean_text(sample_text).text
    chunks = split_text(text, 500, overlap=0)
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))


def test_a_paragraph_over_the_budget_is_cut_after_sentences() -> None:
    sentence = "The rocket barrage smashed into the centre of the capital on Saturday. "
    text = sentence * 12
    chunks = split_text(text, 40, overlap=0)
    assert len(chunks) > 1
    assert all(c.tokens <= 40 for c in chunks)
    assert all(text[c.start : c.end].startswith("The rocket") for c in chunks)
    assert "".join(text[c.start : c.end] for c in chunks) == text


def test_a_word_longer_than_the_budget_is_cut_anyway() -> None:
    text = "x" * 100
    chunks = split_text(text, 5, overlap=0)
    assert "".join(text[c.start : c.end] for c in chunks) == text


def test_a_budget_below_one_token_is_refused() -> None:
    with pytest.raises(ValueError, match="budget must be at least 1"):
        split_text("text", 0)
