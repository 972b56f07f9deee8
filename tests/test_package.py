"""What the project promises about itself: public names, cassettes, documentation."""

from __future__ import annotations

import re

import yaml

import summarizer
from summarizer.errors import SummarizerError
from summarizer.settings import Settings
from tests.conftest import CASSETTES, ROOT

KEY_LIKE = re.compile(r"sk-[A-Za-z0-9_-]{16,}|Bearer\s+\S{8,}|api[-_]?key\W+\w{12,}", re.I)


def test_public_names_are_sorted_and_importable() -> None:
    assert summarizer.__all__ == sorted(summarizer.__all__, key=str)
    for name in summarizer.__all__:
        assert getattr(summarizer, name) is not None


def test_every_cassette_is_free_of_credentials_and_local_paths() -> None:
    cassettes = sorted(CASSETTES.glob("*.yaml"))
    assert cassettes, "no cassettes"
    for path in cassettes:
        raw = path.read_text("utf-8")
        assert not KEY_LIKE.search(raw), f"{path.name} holds something that looks like a key"
        assert not re.search(r"/(tmp|root|home)/\S*\.gguf", raw), f"{path.name}: a local path"
        for interaction in yaml.safe_load(raw)["interactions"]:
            assert set(interaction["request"]["headers"]) <= {"content-type"}
            assert set(interaction["response"]["headers"]) <= {"content-type"}


def test_every_cassette_is_described_in_the_cassettes_readme() -> None:
    readme = (CASSETTES / "README.md").read_text("utf-8")
    for path in CASSETTES.glob("*.yaml"):
        assert path.name in readme, f"cassettes/README.md does not describe {path.name}"


def test_readme_documents_every_setting_and_exit_code() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in Settings.model_fields:
        assert f"`{name}`" in readme, f"README.md does not document the setting {name}"
    codes = {cls.exit_code for cls in _subclasses(SummarizerError)}
    for code in codes:
        assert re.search(rf"^\| {code} \|", readme, re.M), f"README.md: exit code {code}"


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _subclasses(sub)
    return found
