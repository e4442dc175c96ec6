"""/health: database, Redis, Celery worker and beat heartbeats, ml worker. 200 when all are fine.
/metrics: the Prometheus text of ``apps.core.metrics.export_registry``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.core import heartbeat
from apps.core.metrics import export_registry
from apps.core.redis import get_redis


def _timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = fn()
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def check_database() -> dict[str, Any]:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()
    return {"ok": True}


def check_redis() -> dict[str, Any]:
    return {"ok": bool(get_redis().ping())}


def check_heartbeat(component: str) -> dict[str, Any]:
    age = heartbeat.age_seconds(component)
    limit = settings.KIKI_HEARTBEAT_MAX_AGE_S
    if age is None:
        return {"ok": False, "error": f"no {component} heartbeat yet", "max_age_s": limit}
    return {"ok": age <= limit, "age_s": round(age, 1), "max_age_s": limit}


def check_ml() -> dict[str, Any]:
    from apps.core.ml import ml_worker_status

    return ml_worker_status(max_age_s=settings.KIKI_HEARTBEAT_MAX_AGE_S)


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "redis": check_redis,
    "worker": lambda: check_heartbeat("worker"),
    "beat": lambda: check_heartbeat("beat"),
    "ml_worker": check_ml,
}


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    components = {name: _timed(fn) for name, fn in CHECKS.items()}
    failing = [name for name, c in components.items() if not c.get("ok")]
    body = {"status": "ok" if not failing else "fail", "failing": failing, "components": components}
    return JsonResponse(body, status=200 if not failing else 503)


def livez(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers (no database, no Redis). ``/health`` is readiness."""
    return JsonResponse({"status": "alive"})


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Process counters (merged across processes in multiprocess mode) and the scrape-time gauges."""
    return HttpResponse(generate_latest(export_registry()), content_type=CONTENT_TYPE_LATEST)
