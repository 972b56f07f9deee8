"""The command line as a user meets it: output on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import typer
from typer.testing import CliRunner

from summarizer import redact
from summarizer.cli import app
from summarizer.files import write_atomic
from tests.conftest import ROOT, SAMPLE
from tests.fake_openai import FakeOpenAI, Reply, tool_call_reply
from tests.helpers import ARTICLE, GOOD, SECRET

runner = CliRunner()


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE, "utf-8")
    return path


def endpoint(fake: FakeOpenAI) -> list[str]:
    return ["--base-url", fake.base_url, "--model", "fake-model"]


def test_help_does_not_import_the_sdks() -> None:
    code = (
        "import sys\n"
        "from summarizer.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('openai', 'instructor', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "summarize" in out.stdout and "verify" in out.stdout


def test_the_choices_of_a_setting_are_listed_once() -> None:
    """settings types its fields with summarizer/choices.py; the CLI and llm derive theirs."""
    from summarizer import cli, llm
    from summarizer.choices import LOCAL_SIZES, MODES, ON_UNGROUNDED
    from summarizer.settings import Settings

    for field, values, choice in [
        ("mode", MODES, cli.ModeChoice),
        ("on_ungrounded", ON_UNGROUNDED, cli.OnUngrounded),
        ("local_model", LOCAL_SIZES, cli.LocalSize),
    ]:
        assert get_args(Settings.model_fields[field].annotation) == values
        assert tuple(c.value for c in choice) == values
    assert tuple(llm._MODES) == MODES


@pytest.mark.parametrize("command", ["summarize", "batch", "eval"])
def test_help_restates_no_default_that_settings_owns(command: str) -> None:
    """An option for a setting is None unless given; its default is the setting's alone."""
    from summarizer.settings import Settings

    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    for param in params:
        if param.name in Settings.model_fields:
            assert param.default is None, param.name
            assert "default" not in (param.help or "").lower(), param.name


def test_summarize_prints_json_for_jq(
    fake_openai: FakeOpenAI, article: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake_openai.queue(tool_call_reply(GOOD))
    result = runner.invoke(
        app, ["summarize", str(article), *endpoint(fake_openai)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    quote = data["summary"]["source_quotes"][0]
    assert ARTICLE[quote["span"]["start"] : quote["span"]["end"]] == quote["text"]
    assert data["meta"]["prompt"]["name"] == "summarize"
    assert SECRET not in result.output


@pytest.mark.parametrize(("fmt", "expected"), [("markdown", "## Quotes"), ("text", "Quotes:")])
def test_other_formats(fake_openai: FakeOpenAI, article: Path, fmt: str, expected: str) -> None:
    fake_openai.queue(tool_call_reply(GOOD))
    result = runner.invoke(
        app, ["summarize", str(article), "-f", fmt, *endpoint(fake_openai)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert expected in result.stdout
    assert "It's so traumatic," in result.stdout
    start = ARTICLE.index("killing at least eight civilians")
    assert f"> killing at least eight civilians [{start}:{start + 32}]" in result.stdout


def test_stdin_and_output_file(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.queue(tool_call_reply(GOOD))
    out = tmp_path / "out.json"
    result = runner.invoke(
        app,
        ["summarize", "-", "-o", str(out), *endpoint(fake_openai)],
        input=ARTICLE,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(out.read_text())["meta"]["article_chars"] == len(ARTICLE)
    left = [p.name for p in tmp_path.iterdir() if p.name != "cache"]  # cache: SUMMARIZER_CACHE_DIR
    assert left == ["out.json"]  # no temp file left


def test_the_command_lines_log_handler_uses_the_one_secret_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any logger, traceback included: the handler redacts with summarizer.redact's filter."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert runner.invoke(app, ["prompts", "list"], catch_exceptions=False).exit_code == 0
    (handler,) = logging.getLogger().handlers
    assert redact.SECRETS in handler.filters
    try:
        raise RuntimeError(f"the server refused {SECRET}")
    except RuntimeError:
        record = logging.getLogger("some.library").makeRecord(
            "some.library", logging.ERROR, __file__, 1, "call failed with key %s", (SECRET,),
            sys.exc_info(),
        )  # fmt: skip
    assert handler.filter(record)
    logged = handler.format(record)
    assert "call failed with key ***" in logged and "the server refused ***" in logged
    assert SECRET not in logged


def test_output_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (0600); the result must not stay private."""
    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.json"
        write_atomic(fresh, "{}")
        assert fresh.stat().st_mode & 0o777 == 0o644
        shared = tmp_path / "shared.json"
        shared.write_text("old")
        shared.chmod(0o664)
        write_atomic(shared, "{}")
        assert shared.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(umask)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["summarize", "missing.txt", "--base-url", "http://x/v1"], 3, "missing.txt: no such file"),
        (["summarize", "ARTICLE", "--gguf", "nowhere.gguf"], 2, "GGUF file not found"),
        (["summarize", "ARTICLE", "--base-url", "u", "--prompt", "nope"], 2, "no prompt named"),
        (["summarize", "ARTICLE", "--base-url", "u", "--max-tokens", "1"], 2, "max_tokens"),
        (["prompts", "show", "summarize@9"], 2, "no prompt summarize@9"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(
    article: Path, args: list[str], code: int, message: str
) -> None:
    args = [str(article) if a == "ARTICLE" else a for a in args]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("summarizer: error: ")
    assert message in lines[0]


def test_article_timeout_bounds_one_article_from_the_command_line(
    fake_openai: FakeOpenAI, article: Path
) -> None:
    fake_openai.default = Reply(body={}, delay=2.0)  # every answer far too late
    args = ["summarize", str(article), *endpoint(fake_openai), "--article-timeout", "0.3"]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 4, result.output
    assert fake_openai.calls == 1  # the request was cut to what was left, and nothing after
    assert "summarizer: error: " in result.stderr


def test_an_endpoint_failure_exits_4(fake_openai: FakeOpenAI, article: Path) -> None:
    fake_openai.queue(Reply(401, {"error": {"message": "bad key"}}))
    result = runner.invoke(
        app,
        ["summarize", str(article), *endpoint(fake_openai), "--api-key", SECRET],
        catch_exceptions=False,
    )
    assert result.exit_code == 4
    assert "refused the credentials" in result.stderr
    assert SECRET not in result.output


def test_schema_prints_what_the_model_fills_in() -> None:
    result = runner.invoke(app, ["schema"], catch_exceptions=False)
    schema = json.loads(result.stdout)
    assert {"headline", "key_facts", "source_quotes"} <= set(schema["properties"])
    assert "span" not in json.dumps(schema)  # offsets are the program's job
    full = json.loads(runner.invoke(app, ["schema", "--result"], catch_exceptions=False).stdout)
    assert {"summary", "meta"} <= set(full["properties"])


def test_prompts_list_and_show() -> None:
    listed = runner.invoke(app, ["prompts", "list"], catch_exceptions=False)
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["merge@1", "released"],
        ["summarize@1", "released"],
        ["summarize@2", "released"],
    ]
    shown = runner.invoke(app, ["prompts", "show", "summarize@1"], catch_exceptions=False)
    assert shown.stdout == (ROOT / "prompts" / "summarize" / "v1.j2").read_text("utf-8")


def test_verify_passes_a_true_summary_and_fails_a_tampered_one(
    fake_openai: FakeOpenAI, article: Path, tmp_path: Path
) -> None:
    fake_openai.queue(tool_call_reply(GOOD))
    saved = tmp_path / "summary.json"
    runner.invoke(
        app,
        ["summarize", str(article), "-o", str(saved), *endpoint(fake_openai)],
        catch_exceptions=False,
    )
    ok = runner.invoke(app, ["verify", str(saved), str(article)], catch_exceptions=False)
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("ok ")

    data = json.loads(saved.read_text())
    data["summary"]["source_quotes"][0]["text"] = "It is so traumatic"
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    bad = runner.invoke(
        app, ["verify", str(tampered), str(article), "--json"], catch_exceptions=False
    )
    assert bad.exit_code == 1
    checks = json.loads(bad.stdout)
    assert [c["status"] for c in checks if c["path"] == "source_quotes[0].text"] == ["not_found"]


def test_verify_rejects_a_file_that_is_not_a_summary(article: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"headline": 3}')
    result = runner.invoke(app, ["verify", str(junk), str(article)], catch_exceptions=False)
    assert result.exit_code == 3
    assert "not a summary" in result.stderr


def test_verify_the_sample_against_a_moved_offset(tmp_path: Path) -> None:
    text = SAMPLE.read_text("utf-8")
    start = text.index("It's so traumatic")
    summary = {
        "headline": "h",
        "key_facts": [
            {
                "statement": "s",
                "evidence": ["Security trust is gone"],
                "evidence_spans": [{"start": 0, "end": 22}],
            }
        ],
        "parties": [],
        "open_questions": [],
        "source_quotes": [
            {
                "text": "It's so traumatic",
                "speaker": "Amiri",
                "span": {"start": start, "end": start + 17},
            }
        ],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(summary))
    result = runner.invoke(
        app, ["verify", str(path), str(SAMPLE), "--json"], catch_exceptions=False
    )
    statuses = {c["path"]: c["status"] for c in json.loads(result.stdout)}
    assert statuses == {
        "key_facts[0].evidence[0]": "moved",
        "source_quotes[0].text": "ok",
        "source_quotes[0].speaker": "ok",
    }
    assert result.exit_code == 1
