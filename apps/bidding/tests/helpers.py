"""Set-up shared by the bidding tests that drive the outbox through the real task path."""

from __future__ import annotations

from typing import Any

from django.db import connection


def outbox_settings(settings: Any, *, timeout_s: float) -> None:
    """A breaker that trips only on five failures in a row (the failure rate never trips it here)
    and cools down in 0.5 s; a change retried at once, up to three attempts; ``timeout_s`` per call
    to a platform."""
    settings.KIKI_BREAKER_FAILURES = 5
    settings.KIKI_BREAKER_WINDOW_S = 60
    settings.KIKI_BREAKER_MIN_CALLS = 50
    settings.KIKI_BREAKER_FAILURE_RATE_PCT = 90
    settings.KIKI_BREAKER_COOLDOWN_S = 0.5
    settings.KIKI_BREAKER_PROBE_LEASE_S = 60
    settings.KIKI_PLATFORM_CHANGE_MAX_ATTEMPTS = 3
    settings.KIKI_PLATFORM_CHANGE_BACKOFF_S = 0  # a retry is due at once (the countdown is asserted)
    settings.KIKI_AD_PLATFORM_TIMEOUT_S = timeout_s


def record_enqueues(monkeypatch: Any, task: Any, sink: list[Any], *, with_countdown: bool = False) -> None:
    """``task.apply_async`` appends ``(schema, change id)`` (and the countdown, ``with_countdown``)
    to ``sink`` instead of reaching a broker: the test runs the task itself."""

    def record(*, args: list[Any], countdown: float = 0, **kwargs: Any) -> None:
        entry = (connection.schema_name, int(args[0]))
        sink.append((*entry, float(countdown)) if with_countdown else entry)

    monkeypatch.setattr(task, "apply_async", record)
