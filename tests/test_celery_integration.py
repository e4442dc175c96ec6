"""A task enqueued from a tenant request runs in that tenant's schema in a real Celery worker."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
from django_tenants.utils import schema_context

from conftest import api_client_for
from tests.celery_worker import celery_worker, worker_database_url

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    from apps.core.redis import get_redis

    with django_db_blocker.unblock():
        db_url = worker_database_url()
    with celery_worker("default", database_url=db_url) as proc:
        get_redis()  # the worker writes its results where the test reads them
        yield proc


def _wait_done(schema: str, run_id: int, timeout: float = 30.0):
    from apps.governance.models import ReportRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with schema_context(schema):
            run = ReportRun.objects.get(pk=run_id)
        if run.status in (ReportRun.Status.DONE, ReportRun.Status.FAILED):
            return run
        time.sleep(0.1)
    raise AssertionError(f"report {run_id} in {schema} not finished after {timeout}s (status {run.status})")


def test_report_task_runs_in_the_requesting_tenants_schema(committed_db, celery_worker_process, login_token):
    from apps.governance.models import ReportRun

    a, b = committed_db.a, committed_db.b
    token = login_token(a, a.analyst_email)
    created: list[tuple[str, int]] = []
    try:
        response = api_client_for(a.host, token=token).post(
            "/api/v1/reports", {"kind": "access_review"}, format="json"
        )
        assert response.status_code == 202, response.content
        run_id = response.json()["id"]
        created.append((a.schema, run_id))
        run = _wait_done(a.schema, run_id)
        assert run.status == ReportRun.Status.DONE, run.error
        assert run.worker_schema == a.schema
        emails = {u["email"] for u in run.result["users"]}
        assert emails == {a.admin_email, a.analyst_email}
        assert not any(b.slug in e for e in emails)
        with schema_context(b.schema):
            assert not ReportRun.objects.filter(requested_by=f"user:{a.analyst_email}").exists()
        # Re-delivery of the same task changes nothing (idempotent on the run id).
        from apps.governance.tasks import run_report

        with schema_context(a.schema):
            run_report.apply_async(args=[run_id]).get(timeout=30)
            again = ReportRun.objects.get(pk=run_id)
        assert again.finished_at == run.finished_at
        assert again.result == run.result
    finally:
        for schema, pk in created:
            with schema_context(schema):
                ReportRun.objects.filter(pk=pk).delete()
