"""The model client against a scripted fake server: the two retry layers and error mapping.

Sleeps are injected, so a test of a 30 s Retry-After takes milliseconds. The
faults one by one (429, 5xx, timeouts, bodies that are not JSON, refusals ...)
are the table in test_faults.py; here is how the client is built and used.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, Field

from summarizer.errors import ModelError, ValidationFailedError
from summarizer.llm import LLM, AsyncLLM, redact_secrets, retry_after_seconds
from summarizer.settings import Settings, load_settings
from tests.fake_openai import FakeOpenAI, Reply, empty_choices_reply, refusal_reply, tool_call_reply

SECRET = "fake-key-for-tests-llm-abcdefghijklmnop"


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


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Thu, 01 Jan 2026 00:00:20 GMT"}, now) == 20.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_a_404_says_to_check_model_and_url(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply(404, {"error": {"message": "model not found"}}))
    with pytest.raises(ModelError, match=r"check --model and --base-url"):
        LLM(settings_for(fake_openai), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 1


def test_a_schema_violation_is_reasked_as_a_plain_user_turn(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(ok(["a", "b", "c", "d"], prompt_tokens=10), ok(["a"], prompt_tokens=20))
    got = LLM(settings_for(fake_openai), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert got.value.words == ["a"]
    assert [a.kind for a in got.attempts] == ["schema", "ok"]
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
    assert [a.kind for a in got.attempts] == ["transport", "schema", "ok"]


def test_a_repeated_answer_stops_the_reasks(fake_openai: FakeOpenAI) -> None:
    """At temperature 0 a small model often answers a re-ask with the same JSON."""
    fake_openai.default = ok(["a", "b", "c", "d"])
    with pytest.raises(ValidationFailedError, match="repeated its answer") as info:
        LLM(settings_for(fake_openai, max_attempts=5), sleep=Sleeps()).extract(Answer, MESSAGES)
    assert fake_openai.calls == 2
    assert [a.error for a in info.value.attempts][1] == "the same answer as before the re-ask"
    assert info.value.usage is not None and info.value.usage.total_tokens == 300


async def test_async_twin_handles_malformed_answers_and_refusals(fake_openai: FakeOpenAI) -> None:
    fake_openai.queue(Reply(raw=b"<html>"), empty_choices_reply(), refusal_reply("No."))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    llm = AsyncLLM(settings_for(fake_openai), sleep=sleep)
    with pytest.raises(ModelError, match=r"the model refused: 'No\.'") as info:
        await llm.extract(Answer, MESSAGES)
    await llm.close()
    assert fake_openai.calls == 3 and len(waits) == 2
    assert [a.kind for a in info.value.attempts] == ["transport", "transport", "fatal"]


async def test_async_twin_keeps_the_article_timeout(fake_openai: FakeOpenAI) -> None:
    """Waits advance a fake clock; the third would end past the budget, so it never starts."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    fake_openai.default = Reply(503, {}, {"retry-after": "4"})
    llm = AsyncLLM(
        settings_for(fake_openai, article_timeout=10, transport_retries=10),
        sleep=sleep,
        clock=lambda: now[0],
    )
    with pytest.raises(ModelError, match=r"gave up after 8\.0 s.*article_timeout=10 s"):
        await llm.extract(Answer, MESSAGES)
    await llm.close()
    assert fake_openai.calls == 3 and now == [8.0]


def test_the_key_is_redacted_from_every_library_logger(
    fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """Records made by child loggers (openai._base_client, ...) and their tracebacks too."""
    LLM(settings_for(fake_openai), sleep=Sleeps()).close()  # knowing the key is enough
    caplog.set_level(logging.DEBUG)
    child = logging.getLogger("openai._base_client")
    child.setLevel(logging.DEBUG)
    try:
        raise RuntimeError(f"the server said: bad key {SECRET}")
    except RuntimeError:
        child.debug("request with %s failed", SECRET, exc_info=True)
    assert caplog.records[-1].getMessage() == "request with *** failed"
    assert SECRET not in caplog.text
    assert "bad key ***" in caplog.text
    assert redact_secrets(f"Bearer {SECRET}") == "Bearer ***"
    assert redact_secrets("not-needed") == "not-needed"  # the placeholder key is no secret
