"""Articles and model answers that several test modules share.

The fake server's answers are hand-written (tests/fake_openai.py); these are the
articles they are grounded in. A short one (``ARTICLE``, with ``GOOD`` and
``INVENTED`` answers) and one longer than the context (``LONG_ARTICLE``, three
sections read in three parts, answered by :func:`answer_parts`).
"""

from __future__ import annotations

import time
from typing import Any

from summarizer.chunking import estimate_tokens
from summarizer.longform import overhead_tokens
from summarizer.prompts import load_prompt
from tests.fake_openai import Reply, tool_call_reply

# --- a short article -----------------------------------------------------------------------

SECRET = "fake-key-for-tests-pipeline-0123456789"
ARTICLE = (
    "Rockets hit central Kabul on Saturday, killing at least eight civilians.\n\n"
    '"It\'s so traumatic," said Farid Ahmad Amiri, who runs a bakery nearby.\n'
)


def answer(
    *quotes: tuple[str, str | None], evidence: str = "killing at least eight civilians"
) -> dict[str, Any]:
    return {
        "headline": "Rocket attack kills eight in Kabul",
        "key_facts": [{"statement": "Eight civilians died.", "evidence": [evidence]}],
        "parties": [
            {"name": "Farid Ahmad Amiri", "kind": "person", "role": "bakery owner"},
            {"name": "farid ahmad  amiri", "kind": "person", "role": "repeat"},
        ],
        "open_questions": ["Who fired the rockets?"],
        "source_quotes": [{"text": t, "speaker": s} for t, s in quotes],
    }


GOOD = answer(("It\u2019s so traumatic,", "Farid Ahmad Amiri"))  # a curly apostrophe
INVENTED = answer(("The President said the war is over.", "the President"))


# --- an article longer than the context ----------------------------------------------------

PLACES = ["Shar-e-Naw", "Wazir Akbar Khan", "Karte Seh"]
FILLER = [
    "Residents of {} said the night had been quiet until shortly after dawn.",
    "Shops on the main road of {} stayed shut for most of the day.",
    "Ambulances took the wounded from {} to the city's trauma centre.",
    "The ministry said it would publish a list of the victims from {} on Sunday.",
    "Teachers in {} sent pupils home before the first lesson had begun.",
    "Traffic police in {} closed two roundabouts until the early afternoon.",
    "Mosques in {} called on worshippers to give blood at the nearest clinic.",
    "Elders from {} met the district governor to ask for more patrols.",
    "A bus driver in {} said he had heard three loud blasts in a row.",
    "Volunteers in {} cleared glass from the pavements by midday.",
    "Pharmacies in {} ran short of bandages within a few hours.",
    "Families in {} queued outside the police station for news.",
]
KEY = {  # the sentence each part's answer cites, and its quote
    1: ("Rockets hit central Kabul on Saturday, killing at least eight civilians.", None),
    2: (
        "In Doha, Mike Pompeo met negotiators for the Afghan government and the Taliban.",
        ("We want a ceasefire before the winter,", "Mike Pompeo"),
    ),
    3: ("Islamic State said it fired the rockets from a truck.", None),
}
SECTIONS = [
    [KEY[1][0], '"It is so traumatic," said Farid Ahmad Amiri, who runs a bakery nearby.'],
    [KEY[2][0], '"We want a ceasefire before the winter," Mr. Pompeo told them in Doha.'],
    [KEY[3][0], "A Taliban spokesman said the group was not involved {{ 7*7 }}."],
]


def section_text(number: int) -> str:
    filler = [f.format(PLACES[number - 1]) for f in FILLER]
    return "\n\n".join([*SECTIONS[number - 1], *filler])


LONG_ARTICLE = "\n\n".join(section_text(n) for n in (1, 2, 3)) + "\n"
MAX_TOKENS = 400


def context_for(parts_budget: int) -> int:
    """A context_tokens that leaves ``parts_budget`` tokens for each chunk of article."""
    return overhead_tokens(load_prompt("summarize@1"), None) + MAX_TOKENS + parts_budget


SECTION_TOKENS = max(estimate_tokens(section_text(n)) for n in (1, 2, 3))
CONTEXT = context_for(SECTION_TOKENS + 5)  # one section per chunk: three chunks


PART_FACTS = {  # each part's first statement, in words of its KEY sentence (checks.py rule C)
    1: "Rockets killed eight.",
    2: "Pompeo met negotiators.",
    3: "Islamic State fired.",
}


def part_answer(number: int) -> dict[str, Any]:
    sentence, quote = KEY[number]
    party = {1: "Farid Ahmad Amiri", 2: "Mr. Pompeo", 3: "Islamic State"}[number]
    kind = "group" if number == 3 else "person"
    return {
        "headline": f"Part {number} headline",
        "key_facts": [
            {"statement": PART_FACTS[number], "evidence": [sentence]},
            {"statement": "Shops closed.", "evidence": [FILLER[1].format(PLACES[number - 1])]},
        ],
        "parties": [{"name": party, "kind": kind, "role": "in the story"}],
        "open_questions": [f"Question {number}?"],
        "source_quotes": [{"text": quote[0], "speaker": quote[1]}] if quote else [],
    }


MERGED = {
    "headline": "Rockets kill eight in Kabul as Pompeo meets negotiators in Doha",
    "key_facts": [
        {"statement": "Eight civilians died.", "evidence": [KEY[1][0]]},
        {"statement": "Pompeo met both sides.", "evidence": [KEY[2][0]]},
    ],  # nothing from part 3: the program adds its first fact back
    "parties": [
        {"name": "Mike Pompeo", "kind": "person", "role": "US Secretary of State"},
        {"name": "Pompeo", "kind": "person", "role": "visitor"},
        {"name": "Islamic State", "kind": "group", "role": "claimed the attack"},
    ],
    "open_questions": ["Who drove the truck?"],
    "source_quotes": [{"text": KEY[2][1][0], "speaker": "Mike Pompeo"}],  # type: ignore[index]
}


def is_merge(request: dict[str, Any]) -> bool:
    return bool(request["body"]["messages"][0]["content"].startswith("You merge"))


def answer_parts(
    merge: Reply | None = None, arrivals: list[float] | None = None, delay: float = 0.0
) -> Any:
    """A responder: each part's request answered from its own words; the merge with ``merge``."""

    def respond(request: dict[str, Any]) -> Reply | None:
        if arrivals is not None:
            arrivals.append(time.monotonic())
        if is_merge(request):
            return merge or tool_call_reply(MERGED)
        user = request["body"]["messages"][1]["content"]
        number = next(n for n in KEY if KEY[n][0] in user)
        reply = tool_call_reply(part_answer(number))
        reply.delay = delay
        return reply

    return respond
