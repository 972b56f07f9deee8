"""A fake of OpenAI's Batch API, written by us for the tests: not a recording, not a model.

A real HTTP server on 127.0.0.1 at a free port, in a thread, as tests/fake_openai.py is.
It keeps what is uploaded and every batch in memory and serves the endpoints that
``summarizer batch --batch-api`` uses:

    POST /v1/files                     (multipart: purpose=batch, file)
    GET  /v1/files/{id}/content
    POST /v1/batches                   GET /v1/batches (the list)
    GET  /v1/batches/{id}              POST /v1/batches/{id}/cancel

Each retrieve moves a batch one status along its :class:`Plan` (by default
validating -> in_progress -> finalizing -> completed). When it ends, each request
line of its input file is answered by ``answer(body)``, a scripted function
returning a ``tests.fake_openai.Reply`` (a 200 goes to the output file; another
status to the error file with its body; ``drop=True`` to the error file with no
response). A plan can end otherwise (failed, expired, cancelled) after answering
only its first ``answered`` requests. ``throttle`` answers that many retrieves
with a 429 first. Every answer is hand-written by the test that scripts it.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fake_openai import Reply
from tests.loopback import LoopbackHandler

__all__ = ["FakeBatchAPI", "Plan"]

COMPLETED = ["validating", "in_progress", "finalizing", "completed"]


@dataclass
class Plan:
    """The statuses one batch goes through, one per retrieve, and how many get answers."""

    statuses: list[str] = field(default_factory=lambda: list(COMPLETED))
    answered: int | None = None
    """Requests with a line when it ends; None: all (a completed batch answers all)."""
    errors: list[dict[str, str]] = field(default_factory=list)
    """The batch's own ``errors.data`` (a failed batch's reasons)."""


@dataclass
class _Batch:
    id: str
    input_file_id: str
    metadata: dict[str, str]
    plan: Plan
    step: int = 0
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": {"object": "list", "data": self.plan.errors} if self.plan.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": 0,
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary):
        if b"\r\n\r\n" not in part:
            continue
        head, _, data = part.partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = disposition.split('name="', 1)[1].split('"', 1)[0]
        filename = None
        if 'filename="' in disposition:
            filename = disposition.split('filename="', 1)[1].split('"', 1)[0]
        fields[name] = (filename, data.removesuffix(b"\r\n"))
    return fields


class _Handler(LoopbackHandler):
    server: _Server

    def _reply(self, status: int, body: Any, *, raw: bytes | None = None, **headers: str) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json" if raw is None else "application/jsonl")
        self.send_header("content-length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

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
                }
            )
            status, answer, raw, headers = fake.handle(
                self.command, self.path.split("?", 1)[0], self.headers.get("content-type", ""), body
            )
        self._reply(status, answer, raw=raw, **headers)

    do_GET = _serve
    do_POST = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeBatchAPI


class FakeBatchAPI:
    """Files and batches in memory on 127.0.0.1; use as a context manager."""

    def __init__(self, answer: Callable[[dict[str, Any]], Reply]) -> None:
        self.answer = answer
        self.plans: deque[Plan] = deque()
        """The plan of each batch to be created, in order; then the default."""
        self.throttle = 0
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, _Batch] = {}
        self.requests: list[dict[str, Any]] = []
        self.answered: list[str] = []
        """custom_id of every request line answered, in order."""
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def calls(self, method: str, prefix: str) -> int:
        return sum(
            1 for r in self.requests if r["method"] == method and r["path"].startswith(prefix)
        )

    def __enter__(self) -> FakeBatchAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the endpoints

    def handle(
        self, method: str, path: str, content_type: str, body: bytes
    ) -> tuple[int, Any, bytes | None, dict[str, str]]:
        parts = path.strip("/").split("/")[1:]  # without "v1"
        if method == "POST" and parts == ["files"]:
            fields = _multipart(content_type, body)
            if fields.get("purpose", (None, b""))[1] != b"batch":
                return 400, {"error": {"message": "purpose must be batch"}}, None, {}
            filename, data = fields["file"]
            return 200, self._file(filename or "upload.jsonl", data), None, {}
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            if parts[1] not in self.files:
                return 404, {"error": {"message": "no such file"}}, None, {}
            return 200, None, self.files[parts[1]][1], {}
        if method == "POST" and parts == ["batches"]:
            request = json.loads(body)
            assert request["endpoint"] == "/v1/chat/completions", request
            assert request["completion_window"] == "24h", request
            if request["input_file_id"] not in self.files:
                return 404, {"error": {"message": "no such file"}}, None, {}
            batch = _Batch(
                f"batch_{len(self.batches) + 1}",
                request["input_file_id"],
                request.get("metadata") or {},
                self.plans.popleft() if self.plans else Plan(),
            )
            batch.counts["total"] = len(self._lines(batch))
            self.batches[batch.id] = batch
            return 200, batch.to_json(), None, {}
        if method == "GET" and parts == ["batches"]:
            data = [b.to_json() for b in reversed(self.batches.values())]
            return 200, {"object": "list", "data": data, "has_more": False}, None, {}
        if parts[:1] == ["batches"] and len(parts) >= 2:
            batch = self.batches.get(parts[1])
            if batch is None:
                return 404, {"error": {"message": "no such batch"}}, None, {}
            if method == "GET" and len(parts) == 2:
                if self.throttle:
                    self.throttle -= 1
                    error = {"error": {"message": "Rate limit reached for requests"}}
                    return 429, error, None, {"retry_after": "0"}
                self._advance(batch)
                return 200, batch.to_json(), None, {}
            if method == "POST" and parts[2:] == ["cancel"]:
                if batch.status not in ("completed", "failed", "expired", "cancelled"):
                    batch.status = "cancelling"
                    batch.plan.statuses = [*batch.plan.statuses[: batch.step + 1], "cancelled"]
                    batch.plan.answered = batch.plan.answered or 0
                return 200, batch.to_json(), None, {}
        return 404, {"error": {"message": f"fake Batch API: no {method} {path}"}}, None, {}

    def _file(self, filename: str, data: bytes) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = (filename, data)
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": 0,
            "filename": filename,
            "purpose": "batch",
            "status": "processed",
        }

    def _lines(self, batch: _Batch) -> list[dict[str, Any]]:
        data = self.files[batch.input_file_id][1]
        return [json.loads(line) for line in data.decode().splitlines() if line.strip()]

    def _advance(self, batch: _Batch) -> None:
        """One status further along the plan; at its end, the output and error files."""
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return
        batch.status = batch.plan.statuses[min(batch.step, len(batch.plan.statuses) - 1)]
        batch.step += 1
        if batch.status not in ("completed", "failed", "expired", "cancelled"):
            return
        lines = self._lines(batch)
        answered = lines if batch.status == "completed" else lines[: batch.plan.answered or 0]
        output: list[str] = []
        errors: list[str] = []
        for number, line in enumerate(answered, start=1):
            assert line["method"] == "POST" and line["url"] == "/v1/chat/completions", line
            reply = self.answer(line["body"])
            self.answered.append(line["custom_id"])
            record: dict[str, Any] = {"id": f"batch_req_{number}", "custom_id": line["custom_id"]}
            if reply.drop:
                record |= {"response": None, "error": {"code": "server_error", "message": "lost"}}
                errors.append(json.dumps(record))
                continue
            record |= {
                "response": {"status_code": reply.status, "request_id": "r", "body": reply.body},
                "error": None,
            }
            (output if reply.status == 200 else errors).append(json.dumps(record))
        batch.counts["completed"] = len(output)
        batch.counts["failed"] = len(errors)
        if output:
            batch.output_file_id = self._file("output.jsonl", "\n".join(output).encode() + b"\n")[
                "id"
            ]
        if errors:
            batch.error_file_id = self._file("errors.jsonl", "\n".join(errors).encode() + b"\n")[
                "id"
            ]
