"""Django served over real HTTP on 127.0.0.1, for flows where a platform fake calls us back while the
test waits on it (WooCommerce POSTs the keys it generates to our callback URL).

The server runs in a thread on the test's own database connection, inside the test's transaction (the
test's thread is blocked on the fake meanwhile, so the connection is never used by two threads at
once): what the callback writes is rolled back with the test, as with Django's test client, whose
request handling (``ClientHandler``: no connection closing between requests) it reuses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.db import connections
from django.test.client import ClientHandler


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return


@contextmanager
def django_on_loopback() -> Iterator[int]:
    """Serve the project on a free loopback port (yielded) until the block ends. Reach a workspace
    as ``http://<slug>.localhost:<port>``: the fakes send ``*.localhost`` to 127.0.0.1."""
    connection = connections["default"]
    handler = ClientHandler(enforce_csrf_checks=True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        connections["default"] = connection  # this thread uses the test's connection
        response = handler(environ)
        headers = [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return [response.content]

    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    connection.inc_thread_sharing()
    thread = threading.Thread(target=server.serve_forever, name="django-loopback", daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        connection.dec_thread_sharing()
