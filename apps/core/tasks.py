"""One decorator for every task, the queue enum, the tenant dispatcher and the first periodic tasks."""

from __future__ import annotations

import functools
import logging
import random
import socket
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from celery import Task
from django.conf import settings
from django_tenants.utils import get_public_schema_name, schema_context

from apps.core import heartbeat
from apps.core.metrics import TASK_DURATION, TASK_FAILURES
from apps.core.tenant_context import current_schema
from kiki_project.celery import app

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class Queue(StrEnum):
    DEFAULT = "default"
    SYNC = "sync"
    WEBHOOKS = "webhooks"
    BIDDING = "bidding"
    BILLING = "billing"
    RECON = "recon"
    ML = "ml"  # LTV training: long, CPU-bound; keep it off the queues that must stay fast


ALL_QUEUES = ",".join(q.value for q in Queue)


class TransientError(Exception):
    """Raise from a task for a failure worth retrying (timeouts, 5xx, lock contention)."""


def kiki_task(
    name: str,
    *,
    queue: Queue = Queue.DEFAULT,
    max_retries: int = 5,
    retry_for: tuple[type[BaseException], ...] = (TransientError,),
    soft_time_limit: int = 300,
    time_limit: int = 360,
    acks_late: bool = True,
) -> Callable[[F], Any]:
    """Register a task: explicit name ``app.verb_noun``, a queue, retries with jittered back-off,
    late acks (a killed worker's task is redelivered, so tasks must be idempotent), time limits and a
    Prometheus timer. Tasks take ids and load inside."""

    def decorate(fn: F) -> Any:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            status = "ok"
            try:
                return fn(*args, **kwargs)
            except Exception:
                status = "error"
                TASK_FAILURES.labels(task=name).inc()
                raise
            finally:
                TASK_DURATION.labels(task=name, status=status).observe(time.perf_counter() - started)

        return app.task(
            name=name,
            queue=queue.value,
            acks_late=acks_late,
            reject_on_worker_lost=True,
            autoretry_for=retry_for,
            retry_backoff=True,
            retry_backoff_max=600,
            retry_jitter=True,
            max_retries=max_retries,
            soft_time_limit=soft_time_limit,
            time_limit=time_limit,
        )(run)

    return decorate


def active_tenant_schemas() -> list[str]:
    from apps.governance.tenancy.selectors import active_tenant_schema_names

    return active_tenant_schema_names()


@kiki_task("core.dispatch_to_tenants", queue=Queue.DEFAULT)
def dispatch_to_tenants(task_name: str, kwargs: dict[str, Any] | None = None) -> int:
    """Beat → one task per active tenant, each in its own schema, spread by jitter."""
    if task_name not in app.tasks:
        raise ValueError(f"unknown task {task_name!r}")
    task: Task = app.tasks[task_name]
    jitter = max(0, int(settings.KIKI_TENANT_DISPATCH_JITTER_S))
    count = 0
    for schema in active_tenant_schemas():
        with schema_context(schema):
            task.apply_async(kwargs=kwargs or {}, countdown=random.uniform(0, jitter) if jitter else 0)  # noqa: S311
        count += 1
    logger.info("dispatched %s to %d tenants", task_name, count)
    return count


@kiki_task(
    "core.record_worker_heartbeat", queue=Queue.DEFAULT, max_retries=0, soft_time_limit=10, time_limit=20
)
def record_worker_heartbeat() -> float:
    return heartbeat.beat("worker", detail={"host": socket.gethostname()})


@kiki_task("core.tenant_housekeeping", queue=Queue.DEFAULT)
def tenant_housekeeping() -> int:
    """Per tenant: drop expired sessions from the tenant's own session table (each schema has one)."""
    if current_schema() == get_public_schema_name():
        raise ValueError("tenant_housekeeping runs in a tenant schema")
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
