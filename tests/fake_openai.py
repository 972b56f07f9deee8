"""A scripted fake of an OpenAI-compatible server, for fault paths. Not a model.

A real HTTP server on 127.0.0.1 at a free port. Each test queues the exact
responses it wants, in order, and reads back the requests the client made::

    with FakeOpenAI() as fake:
        fake.queue(Reply(429, headers={"retry-after": "7"}), tool_call_reply({...}))
        ...  # point the client at fake.base_url
        assert fake.calls == 2

A reply can be a status with a JSON body, a raw body of any content type, a
dropped connection (``drop=True``), or an answer held back for ``delay``
seconds (past the client's read timeout). Its answers are hand-written, so
they live here and never in ``cassettes/``, which hold recordings of real
servers only.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.loopback import LoopbackHandler

__all__ = [
    "FakeOpenAI",
    "Reply",
    "completion",
    "empty_choices_reply",
    "refusal_reply",
    "streamed_reply",
    "text_reply",
    "tool_call_reply",
]


@dataclass
class Reply:
    """One canned response.

    ``drop=True`` closes the socket without answering; ``raw`` is sent as the
    body instead of ``body`` as JSON; ``delay`` holds the answer back that many
    seconds (the server stops waiting when it shuts down).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    raw: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0


def completion(
    message: dict[str, Any] | None,
    *,
    finish_reason: str = "stop",
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
    model: str = "fake-model",
) -> Reply:
    """A chat completion with one choice holding ``message``, or no choice for None."""
    choices = (
        []
        if message is None
        else [{"index": 0, "finish_reason": finish_reason, "message": message}]
    )
    return Reply(
        body={
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def tool_call_reply(
    arguments: dict[str, Any] | str,
    *,
    name: str = "ArticleSummary",
    finish_reason: str = "tool_calls",
    prompt_tokens: int = 100,
    completion_tokens: int = 50,
    model: str = "fake-model",
) -> Reply:
    """A chat completion whose only choice calls ``name`` with ``arguments``."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_fake",
                "type": "function",
                "function": {"name": name, "arguments": args},
            }
        ],
    }
    return completion(
        message,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        model=model,
    )


def streamed_reply(
    arguments: dict[str, Any],
    *,
    name: str = "ArticleSummary",
    size: int = 16,
    usage: bool = True,
    repeat_name: bool = False,
    finish_reason: str = "tool_calls",
) -> Reply:
    """A tool call sent as server-sent events, ``size`` characters of arguments a chunk.

    ``usage=False`` sends no usage chunk (llama-cpp-python sends none, whatever
    ``stream_options`` asks); ``repeat_name=True`` repeats the tool's name and id in
    every chunk, as llama-cpp-python does, where OpenAI sends them once.
    """
    args = json.dumps(arguments)
    pieces = [args[i : i + size] for i in range(0, len(args), size)]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "fake-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events = [chunk({"role": "assistant", "content": None})]
    for number, piece in enumerate(pieces):
        call: dict[str, Any] = {"index": 0, "function": {"arguments": piece}}
        if number == 0 or repeat_name:
            call.update(id="call_fake", type="function")
            call["function"]["name"] = name
        events.append(chunk({"tool_calls": [call]}))
    events.append(chunk({}, finish_reason))
    if usage:
        events.append(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "fake-model",
                "choices": [],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": len(pieces),
                    "total_tokens": 100 + len(pieces),
                },
            }
        )
    raw = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return Reply(raw=raw.encode(), content_type="text/event-stream")


def refusal_reply(refusal: str, **usage: int) -> Reply:
    """The model declines: ``message.refusal`` set, no content, no tool call (OpenAI's shape)."""
    return completion({"role": "assistant", "content": None, "refusal": refusal}, **usage)


def text_reply(content: str, **usage: int) -> Reply:
    """Plain text and no tool call: what a small model does when it ignores the tool."""
    return completion({"role": "assistant", "content": content}, **usage)


def empty_choices_reply(**usage: int) -> Reply:
    """A well-formed completion with ``choices: []`` (seen behind some proxies)."""
    return completion(None, **usage)


class _Handler(LoopbackHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.server.fake
        with fake.lock:
            fake.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": json.loads(body) if body else None,
                }
            )
            answer = fake.responder(fake.requests[-1]) if fake.responder else None
            reply = answer or (fake.replies.popleft() if fake.replies else fake.default)
        if reply is None:
            reply = Reply(status=500, body={"error": {"message": "fake server: no reply queued"}})
        if reply.delay and fake.stopping.wait(reply.delay):
            return  # shutting down: the client gave up long ago
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("content-type", reply.content_type)
            self.send_header("content-length", str(len(data)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # a client that timed out hung up

    do_GET = _serve
    do_POST = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI


class FakeOpenAI:
    """Serve queued replies on 127.0.0.1 at a free port; use as a context manager.

    ``default`` answers once the queue is empty (else a 500 saying so);
    ``requests`` holds every request received, its JSON body parsed.
    """

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.default: Reply | None = None
        self.responder: Callable[[dict[str, Any]], Reply | None] | None = None
        """Called (under ``lock``) with each request; its Reply, if any, comes before the queue."""
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def queue(self, *replies: Reply) -> FakeOpenAI:
        self.replies.extend(replies)
        return self

    @property
    def calls(self) -> int:
        return len(self.requests)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.requests)
