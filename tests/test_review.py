"""The review page, read back with an HTML parser: what a browser would be given."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from summarizer import SummaryResult, summarize
from summarizer.cli import app
from summarizer.review import ReportEntry, report_page, review_page
from tests.fake_openai import FakeOpenAI, tool_call_reply

runner = CliRunner()

HOSTILE = (
    "Officials said <script>alert(1)</script> was found on the ministry website on Monday.\n\n"
    'Its login form held "><img src=x onerror=alert(1)> in a hidden field, the ministry said.\n\n'
    '"We found it & removed it," said Farid Ahmad Amiri, who runs the website.\n\n'
    "The attackers claimed the ministry had paid them, which the ministry denied.\n"
)


def answer(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "headline": "Script <b>found</b> on ministry website",
        "key_facts": [
            {
                "statement": "A script was found on the ministry website on Monday.",
                "evidence": ["<script>alert(1)</script> was found on the ministry website"],
            },
            {
                "statement": "The login form held a hidden field.",
                "evidence": [
                    'Its login form held "><img src=x onerror=alert(1)> in a hidden field'
                ],
            },
        ],
        "parties": [{"name": "Farid Ahmad Amiri", "kind": "person", "role": "runs the website"}],
        "open_questions": ["Who wrote the <script>?"],
        "source_quotes": [{"text": "We found it & removed it,", "speaker": "Farid Ahmad Amiri"}],
    }
    return {**base, **changes}


def made(fake: FakeOpenAI, reply: dict[str, Any], text: str = HOSTILE) -> SummaryResult:
    fake.queue(tool_call_reply(reply))
    return summarize(text, base_url=fake.base_url, model="fake-model", cache=False)


class Page(HTMLParser):
    """Every element with its attributes and the text inside it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[dict[str, Any]] = []
        self.elements: list[dict[str, Any]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": []}
        self.elements.append(element)
        if tag not in ("meta", "br", "link", "img", "input"):
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element["text"].append(data)

    def find(self, tag: str | None = None, cls: str | None = None) -> list[dict[str, Any]]:
        return [
            {**e, "text": "".join(e["text"])}
            for e in self.elements
            if (tag is None or e["tag"] == tag)
            and (cls is None or cls in (e["attrs"].get("class") or "").split())
        ]


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def test_each_highlight_is_the_article_text_at_its_offsets(fake_openai: FakeOpenAI) -> None:
    result = made(fake_openai, answer())
    page = parse(review_page(result, HOSTILE))
    marks = page.find("mark")
    assert len(marks) >= 3
    for mark in marks:
        start, end = int(mark["attrs"]["data-start"]), int(mark["attrs"]["data-end"])
        assert mark["text"] == HOSTILE[start:end]
    # The article is on the page whole, character for character, as text.
    (body,) = page.find("div", "text")
    assert body["text"] == HOSTILE


def test_each_passage_and_quote_is_covered_by_its_own_highlights(fake_openai: FakeOpenAI) -> None:
    result = made(fake_openai, answer())
    marks = parse(review_page(result, HOSTILE)).find("mark")

    def covered(ref: str) -> set[int]:
        at: set[int] = set()
        for mark in marks:
            if ref in mark["attrs"]["data-refs"].split():
                at.update(range(int(mark["attrs"]["data-start"]), int(mark["attrs"]["data-end"])))
        return at

    summary = result.summary
    assert len(summary.key_facts) == 2 and len(summary.source_quotes) == 1
    for i, fact in enumerate(summary.key_facts, start=1):
        (span,) = fact.evidence_spans
        assert span is not None
        assert covered(f"f{i}e1") == set(range(span.start, span.end))
    quote = summary.source_quotes[0].span
    assert quote is not None and covered("q1") == set(range(quote.start, quote.end))
    # One colour per fact: the first fact's pieces are c1, the second's c2.
    colours = {m["attrs"]["data-facts"]: m["attrs"]["class"].split()[1] for m in marks}
    assert colours["1"] == "c1" and colours["2"] == "c2"


def test_markup_in_the_article_or_the_answer_is_inert(fake_openai: FakeOpenAI) -> None:
    result = made(fake_openai, answer())
    html = review_page(result, HOSTILE)
    page = parse(html)
    assert [e["tag"] for e in page.elements].count("script") == 1  # ours
    assert not page.find("img") and not page.find("b")
    assert not any(k.startswith("on") for e in page.elements for k in e["attrs"])
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # A second wall: the policy runs only the page's own script, by its hash.
    (policy,) = [
        e["attrs"]["content"]
        for e in page.find("meta")
        if e["attrs"].get("http-equiv") == "Content-Security-Policy"
    ]
    (script,) = page.find("script")
    digest = base64.b64encode(hashlib.sha256(script["text"].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert not re.search(r"\b(src|href)=\"(https?:)?//", html)  # nothing is loaded


def test_dropped_items_are_listed_with_their_reason(fake_openai: FakeOpenAI) -> None:
    narration = "The attackers claimed the ministry had paid them"
    reply = answer(
        source_quotes=[
            {"text": "We found it & removed it,", "speaker": "Farid Ahmad Amiri"},
            {"text": narration, "speaker": "the attackers"},
        ]
    )
    result = made(fake_openai, reply)
    page = parse(review_page(result, HOSTILE))
    dropped = [e["text"] for e in page.find("li", "dropped")]
    assert any("not inside quotation marks" in text and narration in text for text in dropped)
    # The dropped narration is not drawn as a quote, but marked where it stands.
    assert all("q2" not in m["attrs"]["data-refs"] for m in page.find("mark"))
    (where,) = page.find("mark", "dropped")
    start = HOSTILE.index(narration)
    assert (int(where["attrs"]["data-start"]), int(where["attrs"]["data-end"])) == (
        start,
        start + len(narration),
    )
    assert "not inside quotation marks" in where["attrs"]["title"]


def test_offsets_that_do_not_point_at_their_words_are_listed_not_drawn(
    fake_openai: FakeOpenAI,
) -> None:
    result = made(fake_openai, answer())
    span = result.summary.source_quotes[0].span
    assert span is not None
    span.start += 1
    page = parse(review_page(result, HOSTILE))
    assert all("q1" not in m["attrs"]["data-refs"] for m in page.find("mark"))
    assert any("quote 1 is not at its offsets" in e["text"] for e in page.find("li", "not-shown"))


def test_the_footer_says_how_the_result_was_made(fake_openai: FakeOpenAI) -> None:
    result = made(fake_openai, answer())
    (footer,) = parse(review_page(result, HOSTILE)).find("footer")
    meta = result.meta
    text = footer["text"]
    assert "fake-model" in text and meta.endpoint in text
    assert f"{meta.prompt.name}@{meta.prompt.version}" in text and meta.prompt.sha256[:12] in text
    assert "1 call(s)" in text and f"{meta.usage.prompt_tokens:,} prompt" in text
    assert "cost unknown" in text  # no price for fake-model


def test_a_report_indexes_every_article_and_links_each_section(fake_openai: FakeOpenAI) -> None:
    result = made(fake_openai, answer())
    entries = [
        ReportEntry("one", "one.txt", result, article=HOSTILE),
        ReportEntry("two", "two.txt", error="no valid answer after 3 attempt(s)"),
        ReportEntry("three", "three.txt", result, notes=["article not shown: gone"]),
    ]
    page = parse(report_page(entries))
    (index,) = [e for e in page.find("section", "review") if e["attrs"].get("id") == "index"]
    warned = 2 if result.meta.warnings else 0
    assert f"3 article(s): 2 ok, 1 failed, {warned} with warnings" in index["text"]
    ids = [e["attrs"]["id"] for e in page.elements if "id" in e["attrs"]]
    assert len(ids) == len(set(ids))  # sections do not share an anchor
    links = {e["attrs"]["href"] for e in page.find("a")}
    for section in ("a1-review", "a2-review", "a3-review"):
        assert f"#{section}" in links and section in ids
    assert any("no valid answer" in e["text"] for e in page.find(cls="failed"))
    assert len(page.find("div", "text")) == 1  # only the article whose text was given


# --- through the command line --------------------------------------------------------------


def test_summarize_writes_a_review_page(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    article = tmp_path / "hostile.txt"
    article.write_text(HOSTILE, "utf-8")
    fake_openai.queue(tool_call_reply(answer()))
    out = tmp_path / "a.html"
    args = ["summarize", str(article), "-f", "html", "-o", str(out)]
    done = runner.invoke(app, [*args, "--base-url", fake_openai.base_url, "--model", "m"])
    assert done.exit_code == 0, done.output
    page = parse(out.read_text("utf-8"))
    (body,) = page.find("div", "text")
    assert body["text"] == HOSTILE


def test_view_rechecks_a_saved_result(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    article = tmp_path / "hostile.txt"
    article.write_text(HOSTILE, "utf-8")
    saved = made(fake_openai, answer())
    span = saved.summary.key_facts[0].evidence_spans[0]
    assert span is not None
    span.start, span.end = span.start + 2, span.end + 2  # moved, as an edit would
    result_file = tmp_path / "r.json"
    result_file.write_text(saved.model_dump_json(), "utf-8")
    done = runner.invoke(app, ["view", str(result_file), str(article)])
    assert done.exit_code == 0, done.output
    page = parse(done.stdout)
    panel = " ".join(e["text"] for e in page.find("li", "not-checked"))
    assert "key_facts[0].evidence[0] moved" in panel
    assert all("f1e1" not in m["attrs"]["data-refs"] for m in page.find("mark"))


def test_view_refuses_a_bare_summary_in_one_line(tmp_path: Path) -> None:
    article = tmp_path / "a.txt"
    article.write_text(HOSTILE, "utf-8")
    bare = tmp_path / "s.json"
    bare.write_text(json.dumps(answer()), "utf-8")
    done = runner.invoke(app, ["view", str(bare), str(article)])
    assert done.exit_code == 3
    assert done.stderr.startswith("summarizer: error: ") and done.stderr.count("\n") == 1


@pytest.mark.parametrize("changed", [False, True])
def test_report_reads_batch_output_and_finds_the_articles(
    fake_openai: FakeOpenAI, tmp_path: Path, changed: bool
) -> None:
    article = tmp_path / "hostile.txt"
    article.write_text(HOSTILE, "utf-8")
    fake_openai.queue(tool_call_reply(answer()))
    out = tmp_path / "r.jsonl"
    done = runner.invoke(
        app,
        [
            "batch",
            str(article),
            "--out",
            str(out),
            "--base-url",
            fake_openai.base_url,
            "--model",
            "m",
            "--no-cache",
        ],
    )
    assert done.exit_code == 0, done.output
    with out.open("a", encoding="utf-8") as handle:
        handle.write(
            json.dumps(
                {
                    "id": "gone",
                    "source": "gone.txt",
                    "ok": False,
                    "error": {"message": "could not read gone.txt"},
                }
            )
            + "\n"
        )
    if changed:
        article.write_text(HOSTILE.replace("Monday", "Sunday"), "utf-8")
    page_file = tmp_path / "report.html"
    done = runner.invoke(app, ["report", str(out), "-o", str(page_file)])
    assert done.exit_code == 0, done.output
    assert "2 article(s) (1 failed)" in done.stderr
    page = parse(page_file.read_text("utf-8"))
    assert any("could not read gone.txt" in e["text"] for e in page.find(cls="failed"))
    notes = " ".join(e["text"] for e in page.find("li", "not-checked"))
    assert ("not the article text the summary was made from" in notes) is changed


def test_report_pages_writes_an_index_and_a_page_per_article(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    article = tmp_path / "hostile.txt"
    article.write_text(HOSTILE, "utf-8")
    fake_openai.queue(tool_call_reply(answer()))
    out = tmp_path / "r.jsonl"
    args = ["batch", str(article), "--out", str(out), "--base-url", fake_openai.base_url]
    assert runner.invoke(app, [*args, "--model", "m", "--no-cache"]).exit_code == 0
    with out.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "../gone", "source": "gone.txt", "ok": False}) + "\n")
    folder = tmp_path / "report"
    done = runner.invoke(app, ["report", str(out), "--pages", str(folder)])
    assert done.exit_code == 0, done.output
    index = parse((folder / "index.html").read_text("utf-8"))
    links = [e["attrs"]["href"] for e in index.find("a")]
    assert len(links) == 2 and all("/" not in link for link in links)  # inside the folder
    assert sorted(p.name for p in folder.iterdir()) == sorted([*links, "index.html"])
    first = parse((folder / links[0]).read_text("utf-8"))
    (body,) = first.find("div", "text")
    assert body["text"] == HOSTILE
    assert any(
        "failed" in e["text"].lower()
        for e in parse((folder / links[1]).read_text()).find(cls="failed")
    )


@pytest.mark.parametrize("fetch", [False, True])
def test_report_fetches_articles_that_came_from_urls_only_when_asked(
    fake_openai: FakeOpenAI, tmp_path: Path, fetch: bool
) -> None:
    from tests.page_server import PageServer

    reply = answer(
        headline="Rockets hit Kabul",
        key_facts=[
            {"statement": "Rockets killed eight.", "evidence": ["killing at least eight civilians"]}
        ],
        source_quotes=[{"text": "It is so traumatic,", "speaker": "Farid Ahmad Amiri"}],
        open_questions=[],
        parties=[],
    )
    with PageServer() as pages:
        url = pages.url("plain.txt")
        out = tmp_path / "r.jsonl"
        fake_openai.queue(tool_call_reply(reply))
        args = ["batch", url, "--out", str(out), "--base-url", fake_openai.base_url]
        assert runner.invoke(app, [*args, "--model", "m", "--no-cache"]).exit_code == 0
        done = runner.invoke(app, ["report", str(out), *(["--fetch"] if fetch else [])])
        fetched = len(pages.paths)
    assert done.exit_code == 0, done.output
    page = parse(done.stdout)
    texts = page.find("div", "text")
    assert fetched == (2 if fetch else 1)  # once by batch, once more by report --fetch
    if fetch:
        (body,) = texts
        assert "killing at least eight civilians" in body["text"]
        assert len(page.find("mark")) >= 2 and not page.find("li", "not-checked")
    else:
        assert not texts
        notes = " ".join(e["text"] for e in page.find("li", "not-checked"))
        assert "give --fetch to fetch it" in notes
