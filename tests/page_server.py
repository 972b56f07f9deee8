"""A web server on 127.0.0.1 serving the fixture pages in tests/pages/, and some faults.

Not the internet: every URL a test fetches points here. Routes:

* ``/<file>``: a file of tests/pages/ (``.html`` as text/html, ``.txt`` as text/plain)
* ``/redirect/<file>``: a 302 to ``/<file>``; ``/loop``: a redirect to itself
* ``/status/<code>``: that status, with a short body
* ``/type/<a>/<b>``: a small body of content type ``a/b``
* ``/big``: an endless text/html body with no Content-Length (cut by the size cap)
* ``/declared-big``: a Content-Length of 10^9 (refused before reading)
* ``/slow``: headers, then nothing for ``slow_seconds``
"""

from __future__ import annotations

import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.loopback import LoopbackHandler

PAGES = Path(__file__).resolve().parent / "pages"


class _Handler(LoopbackHandler):
    server: _Server

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[0] == "redirect":
            self._send(302, b"", "text/plain", location="/" + "/".join(parts[1:]))
        elif parts[0] == "loop":
            self._send(302, b"", "text/plain", location="/loop")
        elif parts[0] == "status":
            self._send(int(parts[1]), b"no such page", "text/plain")
        elif parts[0] == "type":
            self._send(200, b"%PDF-1.4 not a page", f"{parts[1]}/{parts[2]}")
        elif parts[0] == "declared-big":
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(10**9))
            self.end_headers()
            self.close_connection = True
        elif parts[0] == "big":
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(b"<html><body>")
                for _ in range(10_000):  # bounded: ~10 MB at most, the client stops far sooner
                    self.wfile.write(b"<p>" + b"x" * 1000 + b"</p>")
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif parts[0] == "slow":
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", "100")
            self.end_headers()
            self.server.stopping.wait(self.server.slow_seconds)
            self.close_connection = True
        else:
            file = PAGES / parts[-1]
            if not file.is_file():
                self._send(404, b"not found", "text/plain")
                return
            kind = "text/plain; charset=utf-8" if file.suffix == ".txt" else "text/html"
            self._send(200, file.read_bytes(), kind)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    paths: list[str]
    stopping: threading.Event
    slow_seconds: float

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-body (the size cap, a timeout) is what tests do."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class PageServer:
    """Serve tests/pages on a free port of 127.0.0.1; use as a context manager."""

    def __init__(self, slow_seconds: float = 5.0) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.paths = []
        self._server.stopping = threading.Event()
        self._server.slow_seconds = slow_seconds
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def paths(self) -> list[str]:
        """Every path requested, in order."""
        return self._server.paths

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{path.lstrip('/')}"

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
