"""A stand-in for `python -m llama_cpp.server`, for tests. It is not a model.

It takes the same arguments (unknown ones are ignored) and answers only what
LocalServer's readiness check asks: `GET /v1/models` with the `--model_alias` as the
model id. `GET /standin/argv` returns its command line, so tests can check what
LocalServer passed. `POST /extras/tokenize/count` answers the number of
whitespace-separated pieces of its input (a stand-in for the model's tokenizer).
Its behaviour is chosen by the environment:

    STANDIN_MODE=ok        serve at once (default)
    STANDIN_MODE=crash     print "error: failed to load model" to stderr, exit 3
    STANDIN_MODE=hang      never bind or answer, just sleep
    STANDIN_MODE=slow      bind at once, but hold every request until STANDIN_DELAY
                           seconds (default 2) after start, like a model still loading
    STANDIN_MODE=stubborn  serve, but ignore SIGTERM (only SIGKILL stops it)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STARTED = time.monotonic()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--model_alias", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args, _unknown = parser.parse_known_args()
    mode = os.environ.get("STANDIN_MODE", "ok")
    ready_at = STARTED + float(os.environ.get("STANDIN_DELAY", "2"))
    alias = args.model_alias or args.model

    if mode == "crash":
        print("llama_model_load: loading model", file=sys.stderr)
        print("error: failed to load model", file=sys.stderr)
        sys.exit(3)
    if mode == "hang":
        while True:
            time.sleep(60)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if mode == "slow":
                time.sleep(max(0.0, ready_at - time.monotonic()))
            if self.path == "/v1/models":
                body: object = {"object": "list", "data": [{"id": alias, "object": "model"}]}
            elif self.path == "/standin/argv":
                body = sys.argv[1:]
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path != "/extras/tokenize/count":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            text = json.loads(self.rfile.read(length))["input"]
            data = json.dumps({"count": len(text.split())}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with _Server((args.host, args.port), Handler) as server:
        print(f"standin serving {alias} on {args.host}:{args.port}", file=sys.stderr, flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
