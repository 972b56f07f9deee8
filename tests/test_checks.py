"""Rules A to E (checks.py), each on passages of the sample article."""

from __future__ import annotations

from summarizer.checks import (
    LEAD_FACTS,
    Policy,
    check_parties,
    check_quotations,
    check_speakers,
    check_supported,
    checking,
    citable,
    cited_model,
    ground,
    support,
)
from summarizer.grounding import SourceIndex
from summarizer.passages import find_passages
from summarizer.schema import ArticleSummary, KeyFact, Party, SourceQuote, Span
from tests.conftest import SAMPLE

TEXT = SAMPLE.read_text("utf-8")
PASSAGES = find_passages(TEXT)
INDEX = SourceIndex(TEXT)


def sentence(words: str) -> int:
    """The id of the sample's sentence that holds ``words``."""
    return next(s.id for s in PASSAGES.sentences if words in s.text)


def fact(statement: str, *ids: int) -> KeyFact:
    chosen = [PASSAGES.sentences[i - 1] for i in ids]
    return KeyFact(
        statement=statement,
        evidence=[s.text for s in chosen],
        evidence_spans=[Span(start=s.start, end=s.end) for s in chosen],
        sentence_ids=list(ids),
    )


def summary(**fields: object) -> ArticleSummary:
    base: dict[str, object] = {
        "headline": "Rockets hit Kabul",
        "key_facts": [],
        "parties": [],
        "open_questions": [],
        "source_quotes": [],
    }
    return ArticleSummary.model_construct(**{**base, **fields})


# --- B and C: the evidence says what the statement says -------------------------------------


def test_numbers_must_be_in_the_evidence_words_or_digits() -> None:
    barrage = PASSAGES.sentences[sentence("rocket barrage smashed") - 1].text
    assert support("At least 8 civilians were killed in Kabul.", [barrage]).ok  # "eight"
    found = support("At least 9 civilians were killed in Kabul.", [barrage])
    assert not found.ok and found.numbers_missing == ("9",)
    assert found.why() == "its evidence does not have 9"


def test_a_statement_must_share_enough_content_words() -> None:
    barrage = PASSAGES.sentences[sentence("rocket barrage smashed") - 1].text
    assert support("Rockets smashed into central Kabul.", [barrage]).ok
    found = support("Pompeo met Taliban negotiators in Doha.", [barrage])
    assert not found.ok and found.shared == 0 and found.words == 5


def test_an_unsupported_fact_is_recited_from_a_neighbouring_sentence() -> None:
    barrage = sentence("rocket barrage smashed")
    # The model cited the sentence before the one that says it.
    given = summary(key_facts=[fact("The barrage killed at least eight civilians.", barrage - 1)])
    warnings = check_supported(given, PASSAGES)
    assert given.key_facts[0].sentence_ids == [barrage]
    assert warnings == [
        f"key_facts[0] re-cited from sentence [{barrage - 1}] to [{barrage}]: "
        "its evidence does not have 8"
    ]


def test_a_fact_no_nearby_sentence_supports_is_dropped_but_never_the_last() -> None:
    frerichs = sentence("Mark Frerichs")
    barrage = sentence("rocket barrage smashed")
    given = summary(
        key_facts=[
            fact("The barrage killed at least eight civilians.", barrage),
            fact("Islamic State claimed 23 rockets.", frerichs),
        ]
    )
    warnings = check_supported(given, PASSAGES)
    assert [f.sentence_ids for f in given.key_facts] == [[barrage]]
    assert warnings[0].startswith("key_facts[1] dropped, its evidence does not say it")
    alone = summary(key_facts=[fact("Islamic State claimed 23 rockets.", frerichs)])
    warnings = check_supported(alone, PASSAGES)
    assert len(alone.key_facts) == 1  # kept, and flagged
    assert warnings[-1].startswith("no key fact is supported by its evidence")


def test_of_two_passages_one_that_shares_nothing_is_removed() -> None:
    barrage, frerichs = sentence("rocket barrage smashed"), sentence("Mark Frerichs")
    given = summary(key_facts=[fact("Rockets killed eight civilians.", barrage, frerichs)])
    warnings = check_supported(given, PASSAGES)
    assert given.key_facts[0].sentence_ids == [barrage]
    assert warnings[0].startswith("key_facts[0].evidence[1] removed")


# --- A, D, E ------------------------------------------------------------------------------


def test_narration_is_not_a_quote() -> None:
    quotes = [
        SourceQuote(text="Security trust is gone,", speaker="Mr. Amiri"),
        SourceQuote(text="Mr. Pompeo told the Afghan negotiation team.", speaker="Mike Pompeo"),
    ]
    given = summary(source_quotes=quotes)
    assert ground(given, INDEX) == []  # both are the article's words...
    warnings = check_quotations(given, PASSAGES)
    assert [q.text for q in given.source_quotes] == ["Security trust is gone,"]
    assert "not inside quotation marks" in warnings[0]  # ...one is not a quote


def test_a_wrong_speaker_gives_way_to_the_articles_attribution() -> None:
    quote = SourceQuote(text="It's so traumatic,", speaker="Tariq Arian")
    given = summary(source_quotes=[quote])
    ground(given, INDEX)
    warnings = check_speakers(given, PASSAGES, INDEX)
    assert quote.speaker == "Amiri"  # '"It's so traumatic," said Amiri.'
    assert warnings == [
        "source_quotes[0] speaker 'Tariq Arian' is not who the article says spoke; "
        "its attribution says 'Amiri'"
    ]


def test_a_speaker_sharing_a_name_with_the_attribution_is_kept() -> None:
    quote = SourceQuote(text="Even downtown isn't safe,", speaker="Farid Ahmad Amiri")
    given = summary(source_quotes=[quote])
    ground(given, INDEX)
    assert check_speakers(given, PASSAGES, INDEX) == []
    assert quote.speaker == "Farid Ahmad Amiri"


def test_a_party_must_be_named_in_the_article() -> None:
    given = summary(
        parties=[
            Party(name="Mike Pompeo", kind="person", role="visited Doha"),
            Party(name="Secretary Mike Pompeo", kind="person", role="the same, titled"),
            Party(name="Joe Biden", kind="person", role="invented"),
        ]
    )
    warnings = check_parties(given, INDEX)
    assert [p.name for p in given.parties] == ["Mike Pompeo", "Secretary Mike Pompeo"]
    assert warnings == ["parties[2] dropped, not named in the article: 'Joe Biden'"]


# --- summarize@2: ids ---------------------------------------------------------------------


def test_the_answer_schema_lists_only_ids_that_exist() -> None:
    model = cited_model((1, 2, 3), (1, 2))
    schema = model.model_json_schema()
    fact_ids = schema["$defs"]["CitedFact"]["properties"]["sentences"]["items"]
    assert fact_ids["enum"] == [1, 2, 3]
    assert schema["$defs"]["CitedQuote"]["properties"]["id"]["enum"] == [1, 2]
    assert schema["title"] == "CitedAnswer" and "statement" not in str(schema["$defs"])
    assert "statement" in str(cited_model((1, 2, 3), (), statements=True).model_json_schema())


def test_a_cited_answer_becomes_a_summary_of_the_articles_own_words() -> None:
    barrage = sentence("rocket barrage smashed")
    trauma = next(q for q in PASSAGES.quotations if q.text.startswith("It"))
    sentences = tuple(s.id for s in PASSAGES.sentences)
    quotes = tuple(q.id for q in PASSAGES.quotations)
    answer = {
        "headline": "Rockets hit Kabul",
        "key_facts": [{"sentences": [barrage]}, {"sentences": [barrage]}, {"sentences": [3]}],
        "quotes": [{"id": trauma.id, "speaker": "Farid Ahmad Amiri"}],
        "parties": [{"name": "Farid Ahmad Amiri", "kind": "person", "role": "baker"}],
        "open_questions": [],
    }
    policy = Policy(INDEX, PASSAGES)
    with checking(policy):
        cited_model(sentences, quotes).model_validate(answer)
    done = policy.accepted
    assert done is not None and policy.notes == []
    # The lede first (the first five sentences of substance), then the model's picks:
    # the barrage, twice, is in the lede already; sentence 3 is not.
    lede = [s.id for s in PASSAGES.sentences if citable(s.text)][:LEAD_FACTS]
    assert barrage in lede and 3 not in lede
    assert [f.sentence_ids for f in done.key_facts] == [[n] for n in [*lede, 3]]
    for each in done.key_facts:
        span = each.evidence_spans[0]
        assert span is not None and TEXT[span.start : span.end] == each.statement
    # The model's quote first, then the article's others in order, up to five.
    first, *rest = done.source_quotes
    assert (first.text, first.quotation_id, first.speaker) == (
        "It's so traumatic,",
        trauma.id,
        "Farid Ahmad Amiri",
    )
    assert [q.quotation_id for q in rest] == [
        q.id for q in PASSAGES.quotations if q.id != trauma.id and not q.short
    ][:4]
    for quote in done.source_quotes:
        assert quote.span is not None and TEXT[quote.span.start : quote.span.end] == quote.text
