"""The only module that knows openai, instructor and tenacity exist.

Two retry layers, with separate counters:

* Transport: 429 (honouring ``Retry-After``, capped), 5xx, timeouts, dropped
  connections and answers that are not a chat completion (a body that is not
  JSON, no ``choices``) are retried here with tenacity, *inside* the function
  that instructor calls, so they never reach the prompt and never count as a
  re-ask. The SDK's own ``max_retries`` is 0 so retries do not multiply.
* Validation: instructor re-asks with the validation error, up to
  ``max_attempts`` answers in total.

Neither layer may run past ``article_timeout``, the time budget of one
article: every call, wait and re-ask included. A wait that would end past it
is not started, no call starts once it has passed, and each request's timeout
is cut to the time that is left. The clock and the sleep are injectable.

Every HTTP call is recorded as an :class:`~summarizer.schema.Attempt` with its
usage, so failed attempts are paid for in the result too.

The API key is never written anywhere from here: it is redacted from attempt
errors, from the errors raised and the SDK and instructor errors they chain to
(a ``--debug`` traceback prints those), and, by a filter on the ``openai``,
``instructor``, ``httpx`` and ``summarizer`` loggers, from every log record
before any handler sees it.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import random
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import instructor
import jiter
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.core.hooks import Hooks
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
)

from summarizer import live
from summarizer.checks import CheckFailed
from summarizer.errors import (
    AuthenticationError,
    ModelError,
    OutputTruncatedError,
    SummarizerError,
    ValidationFailedError,
)
from summarizer.redact import guard_logs as _guard_logs
from summarizer.redact import redact_secrets
from summarizer.redact import scrub_exception as _scrub_exception
from summarizer.schema import Attempt, Usage
from summarizer.settings import MODES, Mode, Settings

__all__ = ["LLM", "AsyncLLM", "Extraction", "redact_secrets", "retry_after_seconds"]

log = logging.getLogger("summarizer")
T = TypeVar("T", bound=BaseModel)

# Each mode name (settings.MODES, the one list) is the name of an instructor.Mode member.
_MODES: dict[Mode, instructor.Mode] = {name: instructor.Mode[name.upper()] for name in MODES}
_NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


# --- secrets -------------------------------------------------------------------------------
# One filter for the whole process, shared with the CLI and importing no SDK:
# summarizer/redact.py (redact_secrets, guard_logs, scrub_exception).


# --- faults --------------------------------------------------------------------------------


class _Fault(Exception):
    """A fault found by this module; its message is already fit for a person."""


class _Malformed(_Fault):
    """A 200 that is not a chat completion: not JSON, or no choices. Retried as transport."""


class _Refused(_Fault):
    """The model declined to answer (``message.refusal``, or a content filter)."""


class _OutOfTime(_Fault):
    """``article_timeout`` has passed: no further call starts."""


class _RepeatedAnswer(_Fault):
    """The model answered a re-ask with its previous answer, word for word."""


@dataclass
class _Deadline:
    """The time budget of one article, measured on an injectable clock."""

    seconds: float
    clock: Callable[[], float]
    started: float = 0.0
    hit: bool = False  # a wait was not started because it would end past the budget

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        return self.started + self.seconds - self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started


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
    """Per-article bookkeeping shared by the transport wrapper and instructor's hooks."""

    deadline: _Deadline
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
                error=None if error is None else redact_secrets(_describe(error)),
                kind="ok" if error is None else ("transport" if _is_transient(error) else "fatal"),
                usage=usage,
                finish_reason=finish,
                latency_s=round(time.monotonic() - started, 4),
            )
        )

    def parse_error(self, error: Exception, **_: Any) -> None:
        """An answer came back and failed validation: the schema, or only the checks."""
        if self.attempts:
            last = self.attempts[-1]
            last.kind = "grounding" if _only_checks_failed(error) else "schema"
            last.error = redact_secrets(_describe(error))

    def last_error(self, *kinds: str) -> str | None:
        for attempt in reversed(self.attempts):
            if attempt.kind in kinds and attempt.error:
                return attempt.error
        return None


def _only_checks_failed(error: Exception) -> bool:
    """The answer met the schema and failed only the checks of ``checks.py``."""
    if not isinstance(error, ValidationError):
        return False
    errors = error.errors(include_url=False)
    return bool(errors) and all(
        isinstance(e.get("ctx", {}).get("error"), CheckFailed) for e in errors
    )


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
    if isinstance(error, _Fault):
        return str(error)
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
    if isinstance(error, (openai.APIConnectionError, _Malformed)):  # timeouts included
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return False


def _snippet(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _malformed(response: Any) -> _Malformed | None:
    """Why a 200 is not a usable chat completion, or None if it is one."""
    if isinstance(response, str):  # the SDK hands back a body it could not read as JSON
        return _Malformed(f"the answer is not JSON: {_snippet(response)!r}")
    if not getattr(response, "choices", None):
        return _Malformed("the answer has no choices")
    return None


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
    """Retry-After when the server gives one (capped), else full-jitter exponential backoff."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        response = getattr(error, "response", None)
        asked = retry_after_seconds(getattr(response, "headers", None))
        if asked is not None:
            return min(asked, cap)
        return random.uniform(0, min(cap, 0.5 * 2 ** (state.attempt_number - 1)))

    return wait


def _stop(tries: int, deadline: _Deadline) -> Callable[[RetryCallState], bool]:
    """Stop after ``tries``, or rather than start a wait that would end past the deadline."""

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= tries:
            return True
        if state.upcoming_sleep >= deadline.remaining():
            deadline.hit = True
            return True
        return False

    return stop


class _Base:
    """What the sync and async clients share: settings, request shape, error mapping."""

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.mode = _MODES[settings.mode]
        self._clock = clock
        key = settings.api_key.get_secret_value() if settings.api_key else None
        _guard_logs(key)
        self._client_kwargs: dict[str, Any] = {
            "base_url": settings.base_url,
            "api_key": key or _NO_KEY,
            "timeout": settings.timeout,
            "max_retries": 0,
        }

    def _request(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": self.settings.resolved_model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }

    def _count(self, stream: _Stream, messages: list[dict[str, Any]]) -> int | None:
        """Prompt tokens of a streamed answer that came without usage: from the embedded
        server's own tokenizer, or None (unknown) for any other endpoint."""
        if stream.usage is not None:
            return None
        from summarizer.local import prompt_tokens

        return prompt_tokens(self.settings.base_url, messages)

    def _recorder(self) -> _Recorder:
        return _Recorder(deadline=_Deadline(self.settings.article_timeout, self._clock))

    def _retry_kwargs(self, recorder: _Recorder) -> dict[str, Any]:
        return {
            "stop": _stop(self.settings.transport_retries + 1, recorder.deadline),
            "wait": _wait(self.settings.max_retry_wait),
            "retry": retry_if_exception(_is_transient),
            "reraise": True,
        }

    def _prepare(self, recorder: _Recorder, kwargs: dict[str, Any]) -> dict[str, Any]:
        recorder.answers += 1
        if recorder.answers == 1:
            live.stage(f"asking {self.settings.resolved_model}")
        else:
            why = recorder.last_error("schema", "grounding") or "the answer failed a check"
            live.stage(
                f"re-asking ({recorder.answers} of {self.settings.max_attempts}): "
                f"{_snippet(why, 100)}"
            )
        return {**kwargs, "messages": _plain_reasks(kwargs["messages"])}

    def _request_timeout(self, recorder: _Recorder) -> float:
        """This request's timeout: the setting, cut to what is left of the article's budget."""
        _guard_logs()
        left = recorder.deadline.remaining()
        if left <= 0:
            raise _OutOfTime("no time left")
        return min(self.settings.timeout, left)

    def _failed(self, recorder: _Recorder, started: float, error: BaseException) -> BaseException:
        """Record a call that raised; a body that is not JSON becomes a transient fault."""
        if isinstance(error, json.JSONDecodeError):
            error = _Malformed(f"the answer is not JSON: {_snippet(error.doc)!r}")
        recorder.record(started, error=error)
        return error

    def _received(self, recorder: _Recorder, started: float, response: Any) -> None:
        """Record a call that returned; raise if it is no chat completion (tokens still count)."""
        fault = _malformed(response)
        recorder.record(started, response=response, error=fault)
        if fault is not None:
            raise fault

    def _check_answer(self, recorder: _Recorder, response: Any) -> None:
        """Before instructor parses: a refusal, a cut-off answer and a repeat end the asking."""
        choice = response.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal or choice.finish_reason == "content_filter":
            reason = (
                f"the model refused: {_snippet(str(refusal), 200)!r}"
                if refusal
                else "the endpoint's content filter stopped the answer"
            )
            recorder.attempts[-1].kind = "fatal"
            recorder.attempts[-1].error = redact_secrets(reason)
            raise _Refused(reason)
        self._check_complete(response)
        answer = _answer_text(response)
        if answer is not None and answer == recorder.last_answer:
            before = recorder.attempts[-2].kind if len(recorder.attempts) > 1 else "schema"
            recorder.attempts[-1].kind = before if before in ("schema", "grounding") else "schema"
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

    def _raise(self, error: BaseException, recorder: _Recorder) -> SummarizerError:
        """Our error for ``error``, with every secret gone from both (and from its chain)."""
        translated = self._translate(error, recorder)
        _scrub_exception(error, redact_secrets)
        return translated

    def _translate(self, error: BaseException, recorder: _Recorder) -> SummarizerError:
        """Map SDK and instructor errors to ours; instructor hides the real one in __cause__."""
        cause: BaseException = error
        if isinstance(error, InstructorRetryException) and error.__cause__ is not None:
            cause = error.__cause__
        attempts = recorder.attempts
        kwargs: dict[str, Any] = {
            "attempts": attempts,
            "usage": Usage.total([a.usage for a in attempts]),
        }
        where = f"{self.settings.endpoint_host} ({self.settings.resolved_model})"
        calls = len(attempts)
        if isinstance(cause, _OutOfTime) or recorder.deadline.hit:
            budget = f"article_timeout={self.settings.article_timeout:g} s"
            invalid = recorder.last_error("schema", "grounding")
            if invalid is not None:  # answers came but none was valid: like attempts running out
                return ValidationFailedError(
                    redact_secrets(
                        f"no valid answer within {budget} ({calls} call(s)); last: {invalid}"
                    ),
                    **kwargs,
                )
            last = recorder.last_error("transport", "fatal") or "no answer"
            return ModelError(
                redact_secrets(
                    f"{where}: gave up after {recorder.deadline.elapsed():.1f} s, the next try "
                    f"would pass {budget} ({calls} call(s)); last: {last}"
                ),
                **kwargs,
            )
        if isinstance(cause, IncompleteOutputException):
            if attempts:
                attempts[-1].kind = "schema"
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
        if isinstance(cause, _Refused):
            return ModelError(redact_secrets(f"{where}: {cause}"), **kwargs)
        if isinstance(cause, (ValidationError, ValueError)) and not isinstance(
            cause, openai.OpenAIError
        ):
            detail = _describe(cause)
            return ValidationFailedError(
                redact_secrets(f"no valid answer after {recorder.answers} attempt(s): {detail}"),
                **kwargs,
            )
        described = redact_secrets(_describe(cause))
        if isinstance(cause, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return AuthenticationError(f"{where} refused the credentials: {described}", **kwargs)
        if isinstance(cause, openai.NotFoundError):
            return ModelError(
                f"{where}: not found ({described}); check --model and "
                "--base-url (it usually ends in /v1)",
                **kwargs,
            )
        if _is_transient(cause):
            tries = sum(1 for a in attempts if a.kind in ("transport", "fatal"))
            suffix = f" (after {tries} tries)" if tries > 1 else ""
            hint = (
                "; is --base-url an OpenAI-compatible endpoint?"
                if isinstance(cause, _Malformed)
                else ""
            )
            return ModelError(f"{where}: {described}{suffix}{hint}", **kwargs)
        return ModelError(f"{where}: {described}", **kwargs)


# --- streaming -----------------------------------------------------------------------------

_STREAMED: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
"""Asked for only while someone watches (summarizer/live.py). A server that sends no usage
in its stream (llama-cpp-python) leaves the answer's tokens unknown in meta, unless it
is the embedded one, which counts them (``local.prompt_tokens``)."""


class _Stream:
    """Chunks of a streamed chat completion, put back together into the completion itself.

    instructor then parses, checks and re-asks exactly as for an answer that was not
    streamed. The SDK's ChatCompletionStreamState is not used: it appends every
    delta's tool name and id, and llama-cpp-python repeats both in every chunk
    (seen: "AnswerAnswerAnswer..."), which instructor then rejects. On the way, the
    arguments so far are parsed as jiter's partial mode allows (as instructor's
    Partial does, but without running the model's validators, our checks among them,
    on every chunk) and shown to the watcher.
    """

    def __init__(self, watcher: live.Watcher) -> None:
        self._watcher = watcher
        self._first: Any = None
        self._content: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._finish: str | None = None
        self._usage: Any = None
        self._chunks = 0

    def add(self, chunk: Any) -> None:
        if self._first is None:
            self._first = chunk
        if getattr(chunk, "usage", None) is not None:
            self._usage = chunk.usage
        for choice in getattr(chunk, "choices", None) or []:
            delta = choice.delta
            if choice.finish_reason:
                self._finish = choice.finish_reason
            if delta.content:
                self._content.append(delta.content)
                self._chunks += 1
            for call in delta.tool_calls or []:
                held = self._calls.setdefault(
                    call.index or 0, {"id": None, "name": None, "args": []}
                )
                held["id"] = held["id"] or call.id
                if call.function is not None:
                    held["name"] = held["name"] or call.function.name
                    if call.function.arguments:
                        held["args"].append(call.function.arguments)
                        self._chunks += 1
        if self._content or self._calls:
            self._show()

    def _show(self) -> None:
        # Parsed again at every chunk: jiter reads a few kB in microseconds, and the
        # watcher only keeps the result (rich redraws at its own pace).
        text = "".join(self._calls[min(self._calls)]["args"]) if self._calls else ""
        text = text or "".join(self._content)
        try:
            answer = jiter.from_json(text.encode(), partial_mode="trailing-strings")
        except ValueError:
            answer = {}
        self._watcher.partial(answer if isinstance(answer, dict) else {}, self._chunks)

    @property
    def usage(self) -> Any:
        return self._usage

    def completion(self, prompt_tokens: int | None = None) -> Any:
        """The chat completion the chunks make up, as a non-streamed call returns it.

        ``prompt_tokens``: counted for a stream that sent no usage (the embedded
        server); its completion tokens are then the chunks, one a token there.
        """
        first = self._first
        if first is None:
            return "the stream ended before its first chunk"  # _malformed: not JSON
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self._content) or None}
        if self._calls:
            message["tool_calls"] = [
                {
                    "id": held["id"] or f"call_{index}",
                    "type": "function",
                    "function": {"name": held["name"] or "", "arguments": "".join(held["args"])},
                }
                for index, held in sorted(self._calls.items())
            ]
        body: dict[str, Any] = {
            "id": first.id or "streamed",
            "object": "chat.completion",
            "created": first.created or 0,
            "model": first.model or "",
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish or "stop"}],
        }
        if self._usage is not None:
            body["usage"] = self._usage.model_dump()
        elif prompt_tokens is not None:
            body["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": self._chunks,
                "total_tokens": prompt_tokens + self._chunks,
            }
        return openai.types.chat.ChatCompletion.model_validate(body)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The default SSL context (certifi's CA store), loaded once: about 30 ms each time."""
    import httpx2

    return httpx2.create_ssl_context()


_CLIENTS: OrderedDict[tuple[tuple[str, Any], ...], openai.OpenAI] = OrderedDict()
_CLIENTS_LOCK = threading.Lock()
_MAX_CLIENTS = 8


def _shared_client(kwargs: dict[str, Any]) -> openai.OpenAI:
    """One sync client per endpoint, key and timeout, kept for the process (the last 8).

    A new client costs about 20 ms (httpx loads the CA store for its SSL context)
    and opens new connections: per ``summarize()`` call that was most of this
    program's overhead over bare instructor (benchmarks/README.md). Sync clients
    are thread-safe; an evicted one is closed.
    """
    key = tuple(sorted(kwargs.items()))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            _CLIENTS.move_to_end(key)
            return client
        client = _CLIENTS[key] = openai.OpenAI(**kwargs)
        while len(_CLIENTS) > _MAX_CLIENTS:
            _, evicted = _CLIENTS.popitem(last=False)
            evicted.close()
        return client


_CAUGHT = (
    openai.OpenAIError,
    InstructorRetryException,
    IncompleteOutputException,
    _Fault,
)


class LLM(_Base):
    """A synchronous structured-output client for one endpoint.

    ``sleep`` and ``clock`` are what retries wait with and what ``article_timeout``
    is measured on; tests pass fakes so that nothing really waits.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, clock)
        self._client = _shared_client(self._client_kwargs)
        self._sleep = sleep

    def close(self) -> None:
        """Nothing to release: the client (and its connections) is shared, see _shared_client."""

    def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, str]],
    ) -> Extraction[T]:
        """Ask for ``response_model``; re-ask on validation errors, retry transient ones."""
        recorder = self._recorder()

        def send(**kwargs: Any) -> Any:
            kwargs = self._prepare(recorder, kwargs)
            for attempt in Retrying(sleep=self._sleep, **self._retry_kwargs(recorder)):
                with attempt:
                    timeout = self._request_timeout(recorder)
                    started = time.monotonic()
                    try:
                        if (watcher := live.current()) is None:
                            response = self._client.chat.completions.create(
                                **kwargs, timeout=timeout
                            )
                        else:
                            stream = _Stream(watcher)
                            for chunk in self._client.chat.completions.create(
                                **kwargs, **_STREAMED, timeout=timeout
                            ):
                                stream.add(chunk)
                            counted = self._count(stream, kwargs["messages"])
                            response = stream.completion(counted)
                    except BaseException as error:
                        fault = self._failed(recorder, started, error)
                        if fault is error:
                            raise
                        raise fault from error
                    self._received(recorder, started, response)
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
        except _CAUGHT as error:
            raise self._raise(error, recorder) from error
        return Extraction(value=value, attempts=recorder.attempts)


class AsyncLLM(_Base):
    """The asyncio twin of :class:`LLM`; only the I/O differs."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        client: Any = None,
    ) -> None:
        """``client``: one to send with instead of an AsyncOpenAI (the Batch API's
        :class:`DeferredClient`); it needs ``chat.completions.create`` and ``close``."""
        super().__init__(settings, clock)
        self._sleep = sleep
        if client is not None:
            self._client = client
            return
        # One client per AsyncLLM: its connections belong to one event loop. What made a
        # new client cost ~30 ms, the SSL context (the CA store), is made once instead.
        http = openai.DefaultAsyncHttpxClient(verify=_ssl_context())
        self._client = openai.AsyncOpenAI(**self._client_kwargs, http_client=http)

    @property
    def client(self) -> Any:
        """The client requests go through (an AsyncOpenAI unless one was given)."""
        return self._client

    async def close(self) -> None:
        await self._client.close()

    async def extract(
        self,
        response_model: type[T],
        messages: list[dict[str, str]],
    ) -> Extraction[T]:
        recorder = self._recorder()

        async def send(**kwargs: Any) -> Any:
            kwargs = self._prepare(recorder, kwargs)
            async for attempt in AsyncRetrying(sleep=self._sleep, **self._retry_kwargs(recorder)):
                with attempt:
                    timeout = self._request_timeout(recorder)
                    started = time.monotonic()
                    try:
                        if (watcher := live.current()) is None:
                            response = await self._client.chat.completions.create(
                                **kwargs, timeout=timeout
                            )
                        else:
                            stream = _Stream(watcher)
                            async for chunk in await self._client.chat.completions.create(
                                **kwargs, **_STREAMED, timeout=timeout
                            ):
                                stream.add(chunk)
                            counted = await asyncio.to_thread(
                                self._count, stream, kwargs["messages"]
                            )
                            response = stream.completion(counted)
                    except BaseException as error:
                        fault = self._failed(recorder, started, error)
                        if fault is error:
                            raise
                        raise fault from error
                    self._received(recorder, started, response)
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
        except _CAUGHT as error:
            raise self._raise(error, recorder) from error
        return Extraction(value=value, attempts=recorder.attempts)


# --- the Batch API -------------------------------------------------------------------------
# The provider's asynchronous Batch API and the engines that take its files (vLLM's
# run_batch); summarizer/batchapi.py runs the flows, and here are the SDK calls it needs.
#
# instructor.batch (BatchProcessor, BatchRequest) is not used, and not by oversight: it
# writes its own request (a strict json_schema response_format with custom_ids
# "request-N", not our tool schema, mode and settings), parses each answer with
# response_model.model_validate alone (no validation context, so none of the checks of
# checks.py, no hooks, no usage per attempt), and has no re-ask, no transport retry and
# no resume. We need the very request of the live path and every check of it, so the
# live AsyncLLM.extract runs unchanged over DeferredClient below; only the files and
# batches calls are ours, on the openai SDK's own resources.


class Unfinished(_Malformed):
    """The batch ended with no answer to this request (expired, cancelled, failed, lost).

    A transport fault, as a dropped connection is: tenacity tries it again, which in a
    batch run is the next round.
    """


class GaveUp(_Fault):
    """A request failed in as many batch rounds as ``transport_retries`` allows."""


class Unanswered(_Fault, ValueError):
    """No engine will answer this re-ask in this run: it ends as attempts running out.

    A ValueError, so that :meth:`AsyncLLM.extract` reports a ValidationFailedError,
    which ``on_ungrounded=drop`` turns into the best answer kept, with warnings.
    """


def request_body(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the SDK would POST for ``create(**kwargs)``, as JSON (the timeout is not sent)."""

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", exclude_unset=True, by_alias=True)
        raise TypeError(f"not JSON: {type(value).__name__}")

    sent = {k: v for k, v in kwargs.items() if k != "timeout" and v is not openai.omit}
    return json.loads(json.dumps(sent, default=plain))  # type: ignore[no-any-return]


def completion_from(line: dict[str, Any]) -> Any:
    """The ChatCompletion of one batch output line; an SDK-like error if it holds none.

    A line is ``{"custom_id", "response": {"status_code", "body"}, "error"}`` (OpenAI's
    output and error files, vLLM's run_batch). A status other than 200 becomes the
    ``APIStatusError`` the live call would have raised, so a 429 or 5xx is retried and a
    400 is not; a line with no response is :class:`Unfinished`.
    """
    import httpx2  # what the SDK is built on; imported with it
    from openai.types.chat import ChatCompletion

    response = line.get("response")
    if not isinstance(response, dict):
        error = line.get("error") or {}
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        raise Unfinished(f"no answer in the batch: {code or 'error'}: {message or 'unknown'}")
    status = response.get("status_code")
    body = response.get("body")
    if status == 200:
        if not isinstance(body, dict):
            raise _Malformed(f"the answer is not JSON: {_snippet(str(body))!r}")
        try:
            return ChatCompletion.model_validate(body)
        except ValidationError:
            return body if not body.get("choices") else ChatCompletion.model_construct(**body)
    request = httpx2.Request("POST", f"https://batch.invalid{_BATCH_URL}")
    code = status if isinstance(status, int) and status >= 400 else 500
    message = _snippet(json.dumps(body), 300) if body is not None else "no body"
    raise openai.APIStatusError(
        f"Error code: {code} - {message}",
        response=httpx2.Response(code, request=request),
        body=body.get("error", body) if isinstance(body, dict) else body,
    )


_BATCH_URL = "/v1/chat/completions"


class DeferredClient:
    """Stands in for AsyncOpenAI in :class:`AsyncLLM`: ``chat.completions.create`` makes no
    HTTP call.

    It hands the request body (what the live path would POST) to ``answer``, which
    returns the batch output line for it, perhaps a round (hours) later; the line becomes
    the ChatCompletion that the live call would have returned, or its error. Everything
    around it (instructor, the transport retries, the re-asks, the checks) is the live
    path's. If ``answer`` returns None, the request is sent through ``live`` instead
    (``--reask live``).
    """

    def __init__(
        self,
        answer: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]],
        *,
        live: Any = None,
    ) -> None:
        self._answer = answer
        self._live = live
        self.chat = _Namespace(completions=_Namespace(create=self._create))

    async def _create(self, **kwargs: Any) -> Any:
        line = await self._answer(request_body(kwargs))
        if line is None:
            if self._live is None:
                raise Unanswered("no answer, and no live endpoint to ask")
            return await self._live.chat.completions.create(**kwargs)
        return completion_from(line)

    async def close(self) -> None:
        """Nothing to release: no connection is held."""


class _Namespace:
    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


class BatchAPI:
    """The provider's files and batches endpoints, with the live path's transport retries.

    429 (Retry-After honoured, capped at ``max_retry_wait``), 5xx, timeouts and dropped
    connections are tried again ``transport_retries`` times; then, and for any other
    error, a ModelError (AuthenticationError for 401/403) with no secret in it. Batches
    come back as plain dicts (``Batch.model_dump``), so callers need no SDK types.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        base = _Base(settings, time.monotonic)  # the key guarded in logs, the client options
        http = openai.DefaultAsyncHttpxClient(verify=_ssl_context())
        self._client = openai.AsyncOpenAI(**base._client_kwargs, http_client=http)
        self._sleep = sleep
        self._where = f"{settings.endpoint_host} (Batch API)"

    async def close(self) -> None:
        await self._client.close()

    async def _call(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        from tenacity import stop_after_attempt

        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=stop_after_attempt(self.settings.transport_retries + 1),
            wait=_wait(self.settings.max_retry_wait),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    _guard_logs()
                    return await call()
        except openai.OpenAIError as error:
            described = redact_secrets(_describe(error))
            _scrub_exception(error, redact_secrets)
            if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
                raise AuthenticationError(
                    f"{self._where} refused the credentials: {described}"
                ) from error
            if isinstance(error, openai.NotFoundError):
                raise ModelError(
                    f"{self._where}: {what}: not found ({described}); has this endpoint a Batch "
                    "API? For vLLM, use --export and --import"
                ) from error
            raise ModelError(f"{self._where}: {what}: {described}") from error
        raise AssertionError("unreachable")  # pragma: no cover

    async def upload(self, name: str, data: bytes) -> str:
        """Upload a request file (purpose ``batch``); its file id."""
        made = await self._call(
            "upload", lambda: self._client.files.create(file=(name, data), purpose="batch")
        )
        return str(made.id)

    async def create(self, input_file_id: str, metadata: dict[str, str]) -> dict[str, Any]:
        """A batch of the uploaded file's requests, on /v1/chat/completions, in 24 h."""
        made = await self._call(
            "create a batch",
            lambda: self._client.batches.create(
                input_file_id=input_file_id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata=metadata,
            ),
        )
        return made.model_dump()  # type: ignore[no-any-return]

    async def find(self, input_file_id: str) -> dict[str, Any] | None:
        """The newest batch of this input file among the last 100, if one was made."""

        async def listed() -> Any:
            return await self._client.batches.list(limit=100)

        page = await self._call("list batches", listed)
        for batch in page.data:
            if batch.input_file_id == input_file_id:
                return batch.model_dump()  # type: ignore[no-any-return]
        return None

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        got = await self._call("poll", lambda: self._client.batches.retrieve(batch_id))
        return got.model_dump()  # type: ignore[no-any-return]

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        got = await self._call("cancel", lambda: self._client.batches.cancel(batch_id))
        return got.model_dump()  # type: ignore[no-any-return]

    async def download(self, file_id: str) -> bytes:
        """An output or error file's content."""
        got = await self._call("download", lambda: self._client.files.content(file_id))
        return bytes(got.content)
