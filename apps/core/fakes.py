"""A loopback HTTP server for vendor fakes (store platforms, ad platforms, …): each fake is an
``app(request) -> Reply`` written from the vendor's documented contract (``../shared/api-contracts.md``),
served on 127.0.0.1.

On top of the app, the server injects what real platforms do to a client: a queue of failures
(429 with its rate-limit headers, 5xx, a dropped connection, an answer that comes too late) for the
next matching requests, and a log of every request. Tests, benchmarks and the ``make run`` sandbox
use the same servers. Plain stdlib: no Django, no product app.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class Failure:
    """Answer the next ``times`` requests whose path contains ``path_contains`` with this instead."""

    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    path_contains: str = ""
    drop: bool = False  # close the connection without an answer
    delay_s: float = 0.0  # wait this long before answering (past the client's timeout: a timeout)


App = Callable[[Request], Reply]


class FakeServer:
    def __init__(self, app: App, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.failures: deque[Failure] = deque()
        self.log: list[Request] = []
        self.delay_s = 0.0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # keep-alive answers leave at once, not after the 40 ms ACK delay

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                failure = server._take_failure(request)
                with server._lock:
                    server.log.append(request)
                if failure is not None and failure.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if server.delay_s:
                    time.sleep(server.delay_s)  # a slow platform (tests that act while a sync runs)
                if failure is not None and failure.delay_s:
                    time.sleep(failure.delay_s)
                reply = (
                    Reply(failure.status, failure.body, failure.headers) if failure else server.app(request)
                )
                payload = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that hangs up mid-answer (a sync stopped during a download, a client that
                # timed out) is not news.
                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self._httpd = Server((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-platform", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, failure: Failure) -> None:
        with self._lock:
            self.failures.append(failure)

    def _take_failure(self, request: Request) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if failure.path_contains in request.path:
                    failure.times -= 1
                    if failure.times <= 0:
                        self.failures.remove(failure)
                    return failure
        return None

    def requests_to(self, path_contains: str) -> list[Request]:
        with self._lock:
            return [r for r in self.log if path_contains in r.path]
