"""Prompt templates: loading by name and version, the lock, and articles as data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from summarizer.errors import ConfigError, PromptLockError
from summarizer.prompts import LOCK_FILE, list_prompts, load_prompt, parse_ref, read_lock
from tests.conftest import ROOT

PROMPTS = ROOT / "prompts"


def test_every_released_prompt_matches_its_locked_hash() -> None:
    """A released version never changes: new wording needs a new version file."""
    lock = read_lock(PROMPTS)
    assert lock, "prompts/prompts.lock is missing or empty"
    for prompt in list_prompts(PROMPTS):
        assert prompt.ref in lock, (
            f"{prompt.ref} is not in {LOCK_FILE}: add its sha256 to release it"
        )
        assert lock[prompt.ref] == prompt.sha256, f"{prompt.ref} was edited after release"


def test_every_lock_entry_has_its_file() -> None:
    released = {p.ref for p in list_prompts(PROMPTS)}
    assert set(read_lock(PROMPTS)) <= released


@pytest.fixture
def prompts_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PROMPTS, tmp_path / "prompts"))


def test_an_edited_release_fails_to_load(prompts_copy: Path) -> None:
    path = prompts_copy / "summarize" / "v1.j2"
    path.write_text(path.read_text("utf-8").replace("news article", "news story"), "utf-8")
    with pytest.raises(PromptLockError, match=r"summarize@1 was edited after release"):
        load_prompt("summarize@1", prompts_dir=prompts_copy)


def test_latest_version_by_default_and_drafts_are_marked(prompts_copy: Path) -> None:
    v1 = (prompts_copy / "summarize" / "v1.j2").read_text("utf-8")
    (prompts_copy / "summarize" / "v3.j2").write_text(v1.replace("version: 1", "version: 3"))
    latest = load_prompt("summarize", prompts_dir=prompts_copy)
    assert (latest.version, latest.locked) == (3, False)
    pinned = load_prompt("summarize", 1, prompts_dir=prompts_copy)
    assert (pinned.version, pinned.locked) == (1, True)


def test_front_matter_version_must_match_the_file_name(prompts_copy: Path) -> None:
    v1 = (prompts_copy / "summarize" / "v1.j2").read_text("utf-8")
    (prompts_copy / "summarize" / "v3.j2").write_text(v1)
    with pytest.raises(ConfigError, match="front matter says version '1'"):
        load_prompt("summarize@3", prompts_dir=prompts_copy)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("summarize", ("summarize", None)),
        ("summarize@2", ("summarize", 2)),
        ("merge@v1", ("merge", 1)),
    ],
)
def test_parse_ref(ref: str, expected: tuple[str, int | None]) -> None:
    assert parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "Summarize", "summarize@", "summarize@latest", "a b"])
def test_bad_refs_are_config_errors(ref: str) -> None:
    with pytest.raises(ConfigError, match="bad prompt reference"):
        parse_ref(ref)


def test_unknown_prompt_and_version_name_what_exists() -> None:
    with pytest.raises(ConfigError, match=r"no prompt named 'sumarize'.*known: merge, summarize"):
        load_prompt("sumarize", prompts_dir=PROMPTS)
    with pytest.raises(ConfigError, match=r"no prompt summarize@99 \(have: summarize@1"):
        load_prompt("summarize@99", prompts_dir=PROMPTS)


def test_template_syntax_in_the_article_reaches_the_messages_unchanged() -> None:
    article = "A {{ 7*7 }} B {% if true %}C{% endif %} D {# note #} E {% raw %}F\n"
    messages = load_prompt("summarize", prompts_dir=PROMPTS).render(article=article, title=None)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert article in messages[1]["content"]
    assert "49" not in messages[1]["content"]


def test_title_goes_into_the_user_message_when_given() -> None:
    prompt = load_prompt("summarize", prompts_dir=PROMPTS)
    with_title = prompt.render(article="Body.", title="Rocket attack {{ x }}")
    assert "Title: Rocket attack {{ x }}" in with_title[1]["content"]
    assert "Title:" not in prompt.render(article="Body.", title=None)[1]["content"]


def test_lock_file_is_sorted_json() -> None:
    raw = (PROMPTS / LOCK_FILE).read_text("utf-8")
    data = json.loads(raw)
    assert list(data) == sorted(data)


def test_the_default_prompt_is_summarize2_and_released() -> None:
    """Chosen by measurement (README, "Benchmarks and evaluation"): the latest version."""
    prompt = load_prompt("summarize")
    assert (prompt.ref, prompt.answer, prompt.locked) == ("summarize@2", "cited", True)
    old = load_prompt("summarize@1")
    assert (old.answer, old.locked) == ("verbatim", True)  # still loadable, unchanged
