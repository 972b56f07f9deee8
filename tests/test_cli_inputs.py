"""`summarizer summarize` on what scrapers leave, HTML files, URLs and long articles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from summarizer.clean import clean_text
from summarizer.cli import app
from tests.conftest import SAMPLE
from tests.fake_openai import FakeOpenAI, tool_call_reply
from tests.helpers import CONTEXT, LONG_ARTICLE, MAX_TOKENS, answer_parts
from tests.page_server import PAGES, PageServer

runner = CliRunner()
JS_NOTICE = "Sorry, you need to enable JavaScript to visit this website."
KABUL_TITLE = "Rocket attack in Kabul, Mike Pompeo met Afghan government and the Taliban"
GOOD = {
    "headline": "Rockets hit Kabul as Pompeo meets negotiators",
    "key_facts": [
        {
            "statement": "23 rockets struck downtown Kabul.",
            "evidence": ["said 23 rockets had struck downtown Kabul"],
        }
    ],
    "parties": [{"name": "Tariq Arian", "kind": "person", "role": "ministry spokesman"}],
    "open_questions": [],
    "source_quotes": [{"text": "Even downtown isn't safe,", "speaker": "Mr. Amiri"}],
}
JS_QUOTED = {**GOOD, "source_quotes": [{"text": JS_NOTICE, "speaker": None}]}


def endpoint(fake: FakeOpenAI) -> list[str]:
    return ["--base-url", fake.base_url, "--model", "fake-model"]


def user_message(fake: FakeOpenAI, call: int = 0) -> str:
    return str(fake.requests[call]["body"]["messages"][1]["content"])


@pytest.fixture
def pages() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


def test_the_model_never_sees_the_javascript_notice_so_cannot_quote_it(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.queue(tool_call_reply(JS_QUOTED), tool_call_reply(GOOD))
    out = runner.invoke(
        app, ["summarize", str(SAMPLE), *endpoint(fake_openai)], catch_exceptions=False
    )
    assert out.exit_code == 0, out.output
    assert JS_NOTICE not in user_message(fake_openai)
    assert "Shariff share buttons" not in user_message(fake_openai)
    reask = fake_openai.requests[1]["body"]["messages"][-1]["content"]
    assert f"source_quotes[0].text = {JS_NOTICE!r}" in reask
    result = json.loads(out.stdout)
    assert [q["text"] for q in result["summary"]["source_quotes"]] == ["Even downtown isn't safe,"]
    cleaning = result["meta"]["cleaning"]
    assert [r["reason"] for r in cleaning["removed"]] == [
        "JavaScript notice",
        "repeated line",
        "repeated line",
        "share buttons",
    ]
    original = SAMPLE.read_text("utf-8")
    assert result["meta"]["article_chars"] == len(original)
    assert cleaning["text_chars"] == len(clean_text(original).text)
    for removed in cleaning["removed"]:
        assert original[removed["start"] : removed["end"]] == removed["text"]
    quote = result["summary"]["source_quotes"][0]  # offsets point into the file as given
    assert original[quote["span"]["start"] : quote["span"]["end"]] == quote["text"]


def test_no_clean_sends_the_text_as_given(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(tool_call_reply(GOOD))
    out = runner.invoke(
        app,
        ["summarize", str(SAMPLE), "--no-clean", *endpoint(fake_openai)],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    assert JS_NOTICE in user_message(fake_openai)
    assert json.loads(out.stdout)["meta"]["cleaning"] is None


def test_verify_takes_the_original_article_and_cleans_it_the_same_way(
    fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    fake_openai.queue(tool_call_reply(GOOD))
    saved = tmp_path / "kabul.json"
    made = runner.invoke(
        app,
        ["summarize", str(SAMPLE), "-o", str(saved), *endpoint(fake_openai)],
        catch_exceptions=False,
    )
    assert made.exit_code == 0, made.output
    checked = runner.invoke(app, ["verify", str(saved), str(SAMPLE)], catch_exceptions=False)
    assert checked.exit_code == 0, checked.output
    assert "3 of 3 found at their offsets" in checked.stderr
    assert "not the article text" not in checked.stderr


def test_an_html_file_is_extracted_and_its_title_given_to_the_prompt(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.queue(tool_call_reply(GOOD))
    out = runner.invoke(
        app,
        ["summarize", str(PAGES / "kabul.html"), *endpoint(fake_openai)],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    sent = user_message(fake_openai)
    assert sent.startswith(f"Title: {KABUL_TITLE}\nArticle:\n")
    assert "<p>" not in sent and "We use cookies" not in sent
    source = json.loads(out.stdout)["meta"]["source"]
    assert source == {
        "kind": "html",
        "url": None,
        "title": KABUL_TITLE,
        "author": "Rahim Faiez",
        "date": "2020-11-21",
    }


def test_a_url_is_fetched_from_a_local_server_and_summarized(
    fake_openai: FakeOpenAI, pages: PageServer
) -> None:
    fake_openai.queue(tool_call_reply(GOOD))
    url = pages.url("kabul.html")
    out = runner.invoke(app, ["summarize", url, *endpoint(fake_openai)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert pages.paths == ["/kabul.html"]
    result = json.loads(out.stdout)
    assert (result["meta"]["source"]["kind"], result["meta"]["source"]["url"]) == ("url", url)
    assert result["summary"]["source_quotes"][0]["speaker"] == "Mr. Amiri"


def test_a_failed_download_is_one_line_and_exit_3(
    fake_openai: FakeOpenAI, pages: PageServer
) -> None:
    url = pages.url("status/404")
    out = runner.invoke(app, ["summarize", url, *endpoint(fake_openai)], catch_exceptions=False)
    assert out.exit_code == 3
    assert out.stderr == f"summarizer: error: {url}: HTTP 404 Not Found\n"
    assert fake_openai.calls == 0


def test_context_tokens_splits_a_long_article(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.responder = answer_parts()
    path = tmp_path / "long.txt"
    path.write_text(LONG_ARTICLE, "utf-8")
    args = ["summarize", str(path), "--context-tokens", str(CONTEXT)]
    out = runner.invoke(
        app,
        [*args, "--max-tokens", str(MAX_TOKENS), *endpoint(fake_openai)],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    meta = json.loads(out.stdout)["meta"]
    assert (meta["chunks"], meta["calls"], meta["chunking"]["merged_by"]) == (3, 4, "model")


def test_batch_takes_html_files_and_urls(
    fake_openai: FakeOpenAI, pages: PageServer, tmp_path: Path
) -> None:
    fake_openai.default = tool_call_reply(GOOD)
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "kabul.html").write_bytes((PAGES / "kabul.html").read_bytes())
    out = tmp_path / "results.jsonl"
    url = pages.url("kabul.html")
    run = runner.invoke(
        app,
        ["batch", str(folder), url, "-o", str(out), *endpoint(fake_openai)],
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    lines = {line["id"]: line for line in map(json.loads, out.read_text().splitlines())}
    assert set(lines) == {str(folder / "kabul.html"), url}
    kinds = {key: line["result"]["meta"]["source"]["kind"] for key, line in lines.items()}
    assert kinds == {str(folder / "kabul.html"): "html", url: "url"}
    assert all(KABUL_TITLE in r["body"]["messages"][1]["content"] for r in fake_openai.requests)
