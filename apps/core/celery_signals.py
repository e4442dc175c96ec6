"""Task logs carry the same request id and tenant as the request that enqueued them."""

from __future__ import annotations

from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

from apps.core.logging import request_id_var, tenant_var

HEADER = "kiki_request_id"


@before_task_publish.connect(dispatch_uid="kiki_request_id_publish")
def _add_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    rid = request_id_var.get()
    if headers is not None and rid and HEADER not in headers:
        headers[HEADER] = rid


@task_prerun.connect(dispatch_uid="kiki_log_context_prerun")
def _enter_context(task: Any = None, **kwargs: Any) -> None:
    from apps.core.tenant_context import current_schema

    request = getattr(task, "request", None)
    headers = getattr(request, "headers", None) or {}
    rid = headers.get(HEADER) if isinstance(headers, dict) else None
    rid = rid or (getattr(request, HEADER, None) if request is not None else None)
    request_id_var.set(rid or (getattr(request, "id", None) if request is not None else None))
    schema = current_schema()
    tenant_var.set(None if schema == "public" else schema)


@task_postrun.connect(dispatch_uid="kiki_log_context_postrun")
def _leave_context(**kwargs: Any) -> None:
    request_id_var.set(None)
    tenant_var.set(None)


@worker_ready.connect(dispatch_uid="kiki_worker_ready_heartbeat")
def _first_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    """Report liveness at start-up; beat's periodic heartbeat task keeps it fresh afterwards."""
    import socket

    from apps.core import heartbeat

    try:
        heartbeat.beat("worker", detail={"host": socket.gethostname(), "event": "ready"})
    except Exception:  # noqa: S110 - Redis down at start-up shows in /health, never blocks the worker
        pass
