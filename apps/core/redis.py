"""One Redis connection pool per process for platform keys (heartbeats, throttles, rate limits)."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30)


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_CACHE_URL)
