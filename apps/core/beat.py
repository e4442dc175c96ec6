"""Celery beat scheduler that also proves beat is alive: it writes a heartbeat as it ticks."""

from __future__ import annotations

import time
from typing import Any

from celery.beat import PersistentScheduler

from apps.core import heartbeat


class HeartbeatScheduler(PersistentScheduler):
    heartbeat_every_s = 5.0
    _last_beat = 0.0

    def tick(self, *args: Any, **kwargs: Any) -> float:
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat_every_s:
            try:
                heartbeat.beat("beat")
                self._last_beat = now
            except Exception:  # Redis down must not stop scheduling; /health will show it
                self.logger.exception("beat heartbeat failed")
        interval = super().tick(*args, **kwargs)
        return min(interval, self.heartbeat_every_s)
