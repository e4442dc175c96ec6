"""One Redis connection pool per process for platform keys (heartbeats, throttles, rate limits)."""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def client_for(url: str) -> redis.Redis:
    """One pooled client per URL and process."""
    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30)


def get_redis() -> redis.Redis:
    return client_for(settings.REDIS_CACHE_URL)
