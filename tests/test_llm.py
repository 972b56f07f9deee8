"""The model client against a scripted fake server: the two retry layers and error mapping.

Sleeps are injected, so a test of a 30 s Retry-After takes milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import BaseModel, Field

from summarizer.errors import (
    AuthenticationError,
    ModelError,
    OutputTruncatedError,
    ValidationFailedError,
)
from summarizer.llm import LLM, AsyncLLM, retry_after_seconds
from summarizer.settings import Settings, load_settings
from tests.fake_openai import FakeOpenAI, Reply, tool_call_reply

SECRET = "sk-test-abcdefghijklmnopqrstuvwxyz012345"


class Answer(BaseModel):
    words: list[str] = Field(max_length=3)


def ok(words: list[str] | None = None, **kw: int) -> Reply:
    return tool_call_reply({"words": words or ["one"]}, name="Answer", **kw)


def settings_for(fake: FakeOpenAI, **overrides: object) -> Settings:
    return load_settings(base_url=fake.base_url, api_key=SECRET, model="fake-model", **overrides)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_429_waits_for_retry_after_then_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply(429, {"error": {"message": "slow down"}}, {"retry-after": "7"}), ok())
    sleeps = Sleeps()
    got = LLM(settings_for(fake_openai), sleep=sleeps).extract(Answer, MESSAGES)
    assert got.value.words == ["one"]
    assert sleeps == [7.0]
    assert fake_openai.calls == 2
    assert [a.kind for a in got.attempts] == ["transport", "ok"]
    assert got.attempts[0].error == "HTTP 429: slow down"
    assert got.usage.total_tokens == 150  # the refused call spent nothing


def test_retry_after_as_http_date_and_capped(fake_openai: FakeOpenAI) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    fake_openai.queue(Reply(429, {}, {"retry-after": later}), ok())
    sleeps = Sleeps()
    LLM(settings_for(fake_openai, max_retry_wait=30), sleep=sleeps).extract(Answer, MESSAGES)
    assert sleeps == [30.0]


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Thu, 01 Jan 2026 00:00:20 GMT"}, now) == 20.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_back_off_with_jitter_then_succeed(
    fake_openai: FakeOpenAI, status: int
) -> None:
    fake_openai.queue(Reply(status, {"error": {"message": "oops"}}), Reply(status, {}), ok())
    sleeps = Sleeps()
    got = LLM(settings_for(fake_openai), sleep=sleeps).extract(Answer, MESSAGES)
    assert got.value.words == ["one"]
    assert fake_openai.calls == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_a_dropped_connection_is_retried(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply(drop=True), ok())
    got = LLM(settings_for(fake_openai), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 2
    assert got.attempts[0].kind == "transport"
    assert got.attempts[0].usage is None  # unknown, not zero
    assert got.usage.total_tokens is None


def test_transient_errors_give_up_after_the_transport_budget(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Reply(503, {"error": {"message": "overloaded"}})
    with pytest.raises(ModelError, match=r"HTTP 503: overloaded \(after 3 tries\)") as info:
        LLM(settings_for(fake_openai, transport_retries=2), sleep=Sleeps()).extract(
            Answer, MESSAGES
        )
    assert fake_openai.calls == 3
    assert info.value.exit_code == 4


def test_a_401_is_not_retried_and_never_shows_the_key(fake_openai: FakeOpenAI) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {SECRET}"}}
    fake_openai.queue(Reply(401, body))
    with pytest.raises(AuthenticationError) as info:
        LLM(settings_for(fake_openai), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 1
    assert SECRET not in str(info.value)
    assert "refused the credentials" in str(info.value)
    assert fake_openai.requests[0]["headers"]["authorization"] == f"Bearer {SECRET}"


def test_a_404_says_to_check_model_and_url(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply(404, {"error": {"message": "model not found"}}))
    with pytest.raises(ModelError, match=r"check --model and --base-url"):
        LLM(settings_for(fake_openai), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 1


def test_a_schema_violation_is_reasked_as_a_plain_user_turn(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(ok(["a", "b", "c", "d"], prompt_tokens=10), ok(["a"], prompt_tokens=20))
    got = LLM(settings_for(fake_openai), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert got.value.words == ["a"]
    assert [a.kind for a in got.attempts] == ["validation", "ok"]
    assert "words: List should have at most 3 items" in (got.attempts[0].error or "")
    assert got.usage.prompt_tokens == 30  # the failed attempt is paid for too
    reask = fake_openai.requests[1]["body"]["messages"]
    assert [m["role"] for m in reask] == ["user", "assistant", "user"]
    assert reask[1]["content"] == '{"words": ["a", "b", "c", "d"]}'
    assert "at most 3 items" in reask[2]["content"]


def test_attempts_run_out(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(ok(["a", "b", "c", "d"]), ok(["e", "f", "g", "h"]), ok(["never", "asked"]))
    with pytest.raises(ValidationFailedError, match="no valid answer after 2 attempt") as info:
        LLM(settings_for(fake_openai, max_attempts=2), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 2
    assert info.value.exit_code == 5
    assert info.value.usage is not None and info.value.usage.total_tokens == 300


def test_invalid_json_arguments_are_reasked(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(tool_call_reply('{"words": ["a"', name="Answer"), ok())
    got = LLM(settings_for(fake_openai), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 2
    assert "Invalid JSON" in (got.attempts[0].error or "")


@pytest.mark.parametrize(
    "reply",
    [
        ok(finish_reason="length"),
        ok(completion_tokens=1500),  # llama.cpp says "tool_calls" even when it was cut off
    ],
)
def test_output_cut_off_at_max_tokens_is_its_own_error(
    fake_openai: FakeOpenAI, reply: Reply
) -> None:
    fake_openai.queue(reply)
    with pytest.raises(OutputTruncatedError, match="raise --max-tokens"):
        LLM(settings_for(fake_openai, max_tokens=1500), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 1


def test_sdk_retries_are_off_so_retries_do_not_multiply(fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Reply(500, {})
    with pytest.raises(ModelError):
        LLM(settings_for(fake_openai, transport_retries=0), sleep=Sleeps()).extract(
            Answer, MESSAGES
        )
    assert fake_openai.calls == 1


async def test_async_twin_retries_the_same_way(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply(429, {}, {"retry-after": "2"}), ok(["x", "y", "z", "w"]), ok(["x"]))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    llm = AsyncLLM(settings_for(fake_openai), sleep=sleep)
    got = await llm.extract(Answer, MESSAGES)
    await llm.close()
    assert got.value.words == ["x"]
    assert waits == [2.0]
    assert [a.kind for a in got.attempts] == ["transport", "validation", "ok"]


def test_a_repeated_answer_stops_the_reasks(fake_openai: FakeOpenAI) -> None:
    """At temperature 0 a small model often answers a re-ask with the same JSON."""
    fake_openai.default = ok(["a", "b", "c", "d"])
    with pytest.raises(ValidationFailedError, match="repeated its answer") as info:
        LLM(settings_for(fake_openai, max_attempts=5), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 2
    assert [a.error for a in info.value.attempts][1] == "the same answer as before the re-ask"
    assert info.value.usage is not None and info.value.usage.total_tokens == 300
