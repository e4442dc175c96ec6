"""The real web process for gate tests: gunicorn started exactly as ``make run`` starts it
(``kiki_project/gunicorn_conf.py``, ``KIKI_BIND``), against the test database and Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent


def stop_process_group(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the process's group (it was started with ``start_new_session``), SIGKILL after 20 s;
    a group already gone (a test killed it) is fine."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait(timeout=10)
        return
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    port: int
    base_domain: str
    log_path: Path

    @property
    def url(self) -> str:
        """Where Python clients connect (they do not resolve ``*.localhost``): send ``Host`` too."""
        return f"http://127.0.0.1:{self.port}"

    def host(self, slug: str | None = None) -> str:
        return f"{slug}.{self.base_domain}" if slug else self.base_domain

    def browser_url(self, slug: str | None = None, path: str = "/") -> str:
        """What a person types: Chromium sends ``*.localhost`` to loopback by itself."""
        return f"http://{self.host(slug)}:{self.port}{path}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@contextmanager
def web_server(
    *, database_url: str, log_path: Path, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[LiveServer]:
    """Start gunicorn on ``port`` (a free one by default) and wait until it answers ``/health``."""
    from django.conf import settings

    port = port or free_port()
    server_env = dict(
        os.environ,
        DATABASE_URL=database_url,
        KIKI_ENV="test",
        KIKI_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        KIKI_ACCESS_LOG="0",
        PYTHONUNBUFFERED="1",
    )
    server_env.pop("KIKI_PORT", None)
    server_env.pop("KIKI_PUBLIC_URL", None)
    server_env.update(env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "kiki_project" / "gunicorn_conf.py"),
            "kiki_project.wsgi:application",
        ],
        cwd=ROOT,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = LiveServer(port=port, base_domain=settings.KIKI_BASE_DOMAIN, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                requests.get(f"{server.url}/", headers={"Host": server.host()}, timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{server.log_tail()}") from None
                time.sleep(0.2)
        yield server
    finally:
        stop_process_group(proc)
        log.close()
