"""A real Celery worker process for integration tests, against the test database and broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.live_server import stop_process_group

ROOT = Path(__file__).resolve().parent.parent


def worker_database_url() -> str:
    from urllib.parse import quote

    s = connection.settings_dict
    host = quote(s["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{s['USER'] or 'postgres'}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


def empty_broker() -> None:
    """A test worker starts on an empty broker: no task that an earlier test enqueued (for a tenant
    since dropped, on any queue, reserved by a worker since stopped) reaches it. ``control.purge()``
    empties only the default queue; the broker's Redis database belongs to the test session."""
    from kiki_project.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.client.flushdb()  # kombu's Redis client, on the broker's database


@contextmanager
def celery_worker(
    queues: str,
    *,
    database_url: str,
    env: dict[str, str] | None = None,
    empty_first: bool = True,
    pool: str = "solo",
    concurrency: int = 1,
) -> Iterator[subprocess.Popen]:
    """Start ``celery worker -Q queues`` (solo pool by default; ``pool="prefork", concurrency=2`` is
    how ``make run`` starts it), wait for its ping, stop it on exit."""
    from kiki_project.celery import app

    worker_env = dict(os.environ, DATABASE_URL=database_url, KIKI_ENV="test", PYTHONUNBUFFERED="1")
    worker_env.update(env or {})
    if empty_first:
        empty_broker()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kiki_project",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-P",
            pool,
            "--loglevel",
            "WARNING",
            "-n",
            f"kiki-test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker died: {proc.stdout.read().decode()[-3000:]}")  # type: ignore[union-attr]
            if app.control.ping(timeout=0.5):
                break
        else:
            raise RuntimeError("celery worker did not answer a ping within 60 s")
        yield proc
    finally:
        stop_process_group(proc)
