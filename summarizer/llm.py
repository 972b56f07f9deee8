"""The only module that knows openai, instructor and tenacity exist.

Two retry layers, with separate counters:

* Transport: 429 (honouring ``Retry-After``, capped), 5xx, timeouts and dropped
  connections are retried here with tenacity, *inside* the function that
  instructor calls, so they never reach the prompt and never count as a
  re-ask. The SDK's own ``max_retries`` is 0 so retries do not multiply.
* Validation: instructor re-asks with the validation error, up to
  ``max_attempts`` answers in total.

Every HTTP call is recorded as an :class:`~summarizer.schema.Attempt` with its
usage, so failed attempts are paid for in the result too.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.core.hooks import Hooks
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from summarizer.errors import (
    AuthenticationError,
    ModelError,
    OutputTruncatedError,
    SummarizerError,
    ValidationFailedError,
)
from summarizer.schema import Attempt, Usage
from summarizer.settings import Settings

__all__ = ["LLM", "AsyncLLM", "Extraction", "retry_after_seconds"]

log = logging.getLogger("summarizer")
T = TypeVar("T", bound=BaseModel)

_MODES = {
    "tools": instructor.Mode.TOOLS,
    "tools_strict": instructor.Mode.TOOLS_STRICT,
    "json": instructor.Mode.JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "md_json": instructor.Mode.MD_JSON,
}
_NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


@dataclass
class Extraction(Generic[T]):
    """A validated answer and every HTTP call it took."""

    value: T
    attempts: list[Attempt]

    @property
    def usage(self) -> Usage:
        return Usage.total([a.usage for a in self.attempts])


@dataclass
class _Recorder:
    """Per-call bookkeeping shared by the transport wrapper and instructor's hooks."""

    attempts: list[Attempt] = field(default_factory=list)
    answers: int = 0
    last_answer: str | None = None

    def record(
        self, started: float, *, response: Any = None, error: BaseException | None = None
    ) -> None:
        # A refused request (an HTTP status) spent no tokens; a timeout may have.
        if response is not None:
            usage = _usage(response)
        else:
            usage = Usage.zero() if isinstance(error, openai.APIStatusError) else None
        finish = None
        if response is not None and getattr(response, "choices", None):
            finish = response.choices[0].finish_reason
        self.attempts.append(
            Attempt(
                number=len(self.attempts) + 1,
                error=None if error is None else _describe(error),
                kind="ok" if error is None else ("transport" if _is_transient(error) else "fatal"),
                usage=usage,
                finish_reason=finish,
                latency_s=round(time.monotonic() - started, 4),
            )
        )

    def parse_error(self, error: Exception, **_: Any) -> None:
        if self.attempts:
            last = self.attempts[-1]
            last.kind = "validation"
            last.error = _describe(error)


def _usage(response: Any) -> Usage | None:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    return Usage(
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        total_tokens=getattr(usage, "total_tokens", None),
    )


def _describe(error: BaseException) -> str:
    """One line for a person; validation errors lose pydantic's boilerplate."""
    if isinstance(error, ValidationError):
        parts = []
        for err in error.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in err["loc"])
            parts.append(f"{where}: {err['msg']}" if where else err["msg"])
        return "; ".join(parts)
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {_api_message(error)}"
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def _api_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("detail")
        if isinstance(message, dict):
            message = message.get("message")
        if message:
            return " ".join(str(message).split())[:300]
    return " ".join(error.message.split())[:300]


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return False


def retry_after_seconds(headers: Any, now: datetime | None = None) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class _RepeatedAnswer(Exception):
    """The model answered a re-ask with its previous answer, word for word."""


def _answer_text(response: Any) -> str | None:
    choices = getattr(response, "choices", None) or []
    if not choices:
        return None
    message = choices[0].message
    if message.tool_calls:
        return "".join(str(call.function.arguments) for call in message.tool_calls)
    return message.content  # type: ignore[no-any-return]


def _plain_reasks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-asks as plain assistant/user turns, which every chat server renders.

    instructor re-asks with an assistant ``tool_calls`` message and a ``tool``
    message. Some OpenAI-compatible servers drop both from the prompt (llama.cpp's
    chatml format does): the model then sees neither its answer nor the error.
    """
    if not any(m.get("role") == "tool" or m.get("tool_calls") for m in messages):
        return messages
    plain: list[dict[str, Any]] = []
    for message in messages:
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and calls:
            first = calls[0]
            function = first["function"] if isinstance(first, dict) else first.function
            arguments = function["arguments"] if isinstance(function, dict) else function.arguments
            plain.append({"role": "assistant", "content": arguments})
        elif message.get("role") == "tool":
            plain.append({"role": "user", "content": message["content"]})
        else:
            plain.append(message)
    return plain


def _wait(cap: float) -> Callable[[RetryCallState], float]:
    """Retry-After when the server gives one, else full-jitter exponential backoff."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        response = getattr(error, "response", None)
        asked = retry_after_seconds(getattr(response, "headers", None))
        if asked is not None:
            return min(asked, cap)
        return random.uniform(0, min(cap, 0.5 * 2 ** (state.attempt_number - 1)))

    return wait


class _Base:
    """What the sync and async clients share: settings, request shape, error mapping."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mode = _MODES[settings.mode]
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self._client_kwargs: dict[str, Any] = {
            "base_url": settings.base_url,
            "api_key": key or _NO_KEY,
            "timeout": settings.timeout,
            "max_retries": 0,
        }
        self._secret = key

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": self.settings.resolved_model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }

    def _retry_kwargs(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.settings.transport_retries + 1),
            "wait": _wait(self.settings.max_retry_wait),
            "retry": retry_if_exception(_is_transient),
            "reraise": True,
        }

    def _prepare(self, recorder: _Recorder, kwargs: dict[str, Any]) -> dict[str, Any]:
        recorder.answers += 1
        return {**kwargs, "messages": _plain_reasks(kwargs["messages"])}

    def _check_answer(self, recorder: _Recorder, response: Any) -> None:
        """Stop re-asking once the model repeats itself: the same answer fails the same way."""
        self._check_complete(response)
        answer = _answer_text(response)
        if answer is not None and answer == recorder.last_answer:
            recorder.attempts[-1].kind = "validation"
            recorder.attempts[-1].error = "the same answer as before the re-ask"
            raise _RepeatedAnswer("the same answer as before the re-ask")
        recorder.last_answer = answer

    def _check_complete(self, response: Any) -> None:
        """Cut-off output is its own error: some servers say "tool_calls" even then."""
        choices = getattr(response, "choices", None) or []
        usage = _usage(response)
        spent = usage.completion_tokens if usage else None
        if (choices and choices[0].finish_reason == "length") or (
            spent is not None and spent >= self.settings.max_tokens
        ):
            raise IncompleteOutputException(last_completion=response)

    def _hooks(self, recorder: _Recorder) -> Hooks:
        hooks = Hooks()
        hooks.on("parse:error", recorder.parse_error)
        return hooks

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _translate(self, error: BaseException, recorder: _Recorder) -> SummarizerError:
        """Map SDK and instructor errors to ours; instructor hides the real one in __cause__."""
        cause: BaseException = error
        if isinstance(error, InstructorRetryException) and error.__cause__ is not None:
            cause = error.__cause__
        attempts = recorder.attempts
        usage = Usage.total([a.usage for a in attempts])
        kwargs: dict[str, Any] = {"attempts": attempts, "usage": usage}
        where = f"{self.settings.endpoint_host} ({self.settings.resolved_model})"
        if isinstance(cause, IncompleteOutputException):
            if attempts:
                attempts[-1].kind = "validation"
                attempts[-1].error = f"cut off at max_tokens={self.settings.max_tokens}"
            return OutputTruncatedError(
                f"the answer was cut off at max_tokens={self.settings.max_tokens}; "
                "raise --max-tokens",
                **kwargs,
            )
        if isinstance(cause, _RepeatedAnswer):
            return ValidationFailedError(
                f"the model repeated its answer after a re-ask; stopped after "
                f"{recorder.answers} attempt(s)",
                **kwargs,
            )
        if isinstance(cause, (ValidationError, ValueError)) and not isinstance(
            cause, openai.OpenAIError
        ):
            detail = _describe(cause)
            return ValidationFailedError(
                f"no valid answer after {recorder.answers} attempt(s): {self._redact(detail)}",
                **kwargs,
            )
        if isinstance(cause, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return AuthenticationError(
                f"{where} refused the credentials: {self._redact(_describe(cause))}", **kwargs
            )
        if isinstance(cause, openai.NotFoundError):
            return ModelError(
                f"{where}: not found ({self._redact(_describe(cause))}); check --model and "
                "--base-url (it usually ends in /v1)",
                **kwargs,
            )
        if isinstance(cause, openai.OpenAIError):
            tries = sum(1 for a in attempts if a.kind in ("transport", "fatal"))
            suffix = f" (after {tries} tries)" if _is_transient(cause) and tries > 1 else ""
            return ModelError(f"{where}: {self._redact(_describe(cause))}{suffix}", **kwargs)
        return ModelError(f"{where}: {self._redact(_describe(cause))}", **kwargs)


class LLM(_Base):
    """A synchronous structured-output client for one endpoint."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(settings)
        self._client = openai.OpenAI(**self._client_kwargs)
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, str]],
    ) -> Extraction[T]:
        """Ask for ``response_model``; re-ask on validation errors, retry transient ones."""
        recorder = _Recorder()

        def send(**kwargs: Any) -> Any:
            kwargs = self._prepare(recorder, kwargs)
            for attempt in Retrying(sleep=self._sleep, **self._retry_kwargs()):
                with attempt:
                    started = time.monotonic()
                    try:
                        response = self._client.chat.completions.create(**kwargs)
                    except BaseException as error:
                        recorder.record(started, error=error)
                        raise
                    recorder.record(started, response=response)
            self._check_answer(recorder, response)
            return response

        create: Any = instructor.patch(create=send, mode=self.mode)
        try:
            value = create(
                response_model=response_model,
                max_retries=self.settings.max_attempts - 1,
                hooks=self._hooks(recorder),
                **self._request(messages),
            )
        except (
            openai.OpenAIError,
            InstructorRetryException,
            IncompleteOutputException,
            _RepeatedAnswer,
        ) as error:
            raise self._translate(error, recorder) from error
        return Extraction(value=value, attempts=recorder.attempts)


class AsyncLLM(_Base):
    """The asyncio twin of :class:`LLM`; only the I/O differs."""

    def __init__(
        self, settings: Settings, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        super().__init__(settings)
        self._client = openai.AsyncOpenAI(**self._client_kwargs)
        self._sleep = sleep

    async def close(self) -> None:
        await self._client.close()

    async def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, str]],
    ) -> Extraction[T]:
        recorder = _Recorder()

        async def send(**kwargs: Any) -> Any:
            kwargs = self._prepare(recorder, kwargs)
            async for attempt in AsyncRetrying(sleep=self._sleep, **self._retry_kwargs()):
                with attempt:
                    started = time.monotonic()
                    try:
                        response = await self._client.chat.completions.create(**kwargs)
                    except BaseException as error:
                        recorder.record(started, error=error)
                        raise
                    recorder.record(started, response=response)
            self._check_answer(recorder, response)
            return response

        create: Any = instructor.patch(create=send, mode=self.mode)
        try:
            value = await create(
                response_model=response_model,
                max_retries=self.settings.max_attempts - 1,
                hooks=self._hooks(recorder),
                **self._request(messages),
            )
        except (
            openai.OpenAIError,
            InstructorRetryException,
            IncompleteOutputException,
            _RepeatedAnswer,
        ) as error:
            raise self._translate(error, recorder) from error
        return Extraction(value=value, attempts=recorder.attempts)
