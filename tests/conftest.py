"""Shared fixtures: an isolated environment per test, cassettes, the fake server.

Cassettes replay recordings of a real server (see cassettes/README.md). To
re-record them, run the recorded tests with ``SUMMARIZER_RECORD=1`` against a
live endpoint, or through the embedded local model as the cassettes here were::

    SUMMARIZER_RECORD=1 SUMMARIZER_RECORD_BASE_URL=local pytest tests/test_recorded.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vcr
from vcr.cassette import Cassette

from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"
EXAMPLES = ROOT / "examples"
SAMPLE = EXAMPLES / "kabul-rocket-attack.txt"

RECORDING = os.environ.get("SUMMARIZER_RECORD") == "1"
RECORD_BASE_URL = os.environ.get("SUMMARIZER_RECORD_BASE_URL", "http://127.0.0.1:8765/v1")
RECORD_MODEL = os.environ.get("SUMMARIZER_RECORD_MODEL", "qwen2.5-coder-1.5b-instruct")
RECORD_API_KEY = os.environ.get("SUMMARIZER_RECORD_API_KEY")

_USER_CACHE_DIR = os.environ.get("SUMMARIZER_CACHE_DIR")
_KEPT_HEADERS = {"content-type"}


def _scrub_request(request: Any) -> Any:
    """Keep no request header but content-type: no key, org or user agent is stored.

    The local server's readiness polls (GET /v1/models, made with urllib, which
    vcrpy also sees) are not part of what the tests replay.
    """
    if request.method == "GET" and request.path.endswith("/models"):
        return None
    for name in list(request.headers):
        if name.lower() not in _KEPT_HEADERS:
            del request.headers[name]
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {
        k: v for k, v in response["headers"].items() if k.lower() in _KEPT_HEADERS
    }
    return response


recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORDING else "none",
    match_on=["method", "path", "body"],
    filter_headers=["authorization", "api-key", "openai-organization", "openai-project"],
    before_record_request=_scrub_request,
    before_record_response=_scrub_response,
    decode_compressed_response=True,
    ignore_localhost=False,
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's keys, endpoints or cache."""
    for name in list(os.environ):
        if name.startswith(("SUMMARIZER_", "OPENAI_")) and name != "SUMMARIZER_RECORD":
            monkeypatch.delenv(name)
    # A bug in a command is a traceback in the test, not "exit 1: internal error" (cli._guard);
    # with runner.invoke(..., catch_exceptions=False) it reaches pytest as it is.
    monkeypatch.setenv("SUMMARIZER_RAISE_ERRORS", "1")
    # Most tests script the model's answers in summarize@1's shape (passages copied
    # verbatim); those of summarize@2 (ids cited) ask for it by name.
    monkeypatch.setenv("SUMMARIZER_PROMPT", "summarize@1")
    recording_locally = RECORDING and RECORD_BASE_URL == "local"
    if recording_locally and _USER_CACHE_DIR:  # where the fetched model is
        monkeypatch.setenv("SUMMARIZER_CACHE_DIR", _USER_CACHE_DIR)
    elif not recording_locally:
        monkeypatch.setenv("SUMMARIZER_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Cassette]:
    """Replay ``cassettes/<name>.yaml`` (the test's ``cassette`` marker), every interaction."""
    marker = request.node.get_closest_marker("cassette")
    assert marker is not None, "use @pytest.mark.cassette('name')"
    if RECORDING:  # record mode "all" would keep the old interactions beside the new
        (CASSETTES / f"{marker.args[0]}.yaml").unlink(missing_ok=True)
    with recorder.use_cassette(f"{marker.args[0]}.yaml") as cass:
        yield cass
    if not RECORDING:
        assert cass.all_played, f"{marker.args[0]}: some recorded calls were not made"


@pytest.fixture
def recorded_endpoint() -> dict[str, Any]:
    """Where recorded tests point: a live server when recording, anything when replaying.

    ``SUMMARIZER_RECORD_BASE_URL=local`` records through the embedded default: no
    endpoint and no key, so the program starts the fetched local model itself.
    """
    if RECORDING and RECORD_BASE_URL == "local":
        return {"base_url": None, "model": None, "api_key": None, "cache": False}
    base_url = "http://127.0.0.1:8765/v1" if RECORD_BASE_URL == "local" else RECORD_BASE_URL
    return {
        "base_url": base_url,
        "model": RECORD_MODEL,
        "api_key": RECORD_API_KEY,
        "cache": not RECORDING,  # a recording must reach the server
    }


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def sample_text() -> str:
    return SAMPLE.read_text("utf-8")
