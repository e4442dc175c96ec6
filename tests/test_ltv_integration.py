"""LTV with real processes: orders over HTTP, training requested over HTTP and run by a real Celery
worker (queues default, bidding, ml …), promotion, re-scoring, then the bid-time fast path answered by
a real ml worker that loads the promoted artefact from Redis by its version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django_tenants.utils import schema_context

from apps.core.ml import ml_redis
from apps.core.tasks import ALL_QUEUES
from conftest import api_client_for
from ml.serving.worker import read_heartbeats
from tests.celery_worker import ROOT, celery_worker, worker_database_url
from tests.ltv_data import post_orders, simulated_orders

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def ltv_worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    with django_db_blocker.unblock():
        db_url = worker_database_url()
    env = {
        "KIKI_LTV_TRAIN_MAX_EPOCHS": "2",
        "KIKI_LTV_MIN_CUSTOMERS": "50",
        "KIKI_LTV_MIN_HISTORY_DAYS": "90",
    }
    with celery_worker(ALL_QUEUES, database_url=db_url, env=env) as proc:
        yield proc


def _wait(what: str, check, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what}: not reached within {timeout:.0f}s")


def _worker_idle() -> bool:
    from kiki_project.celery import app

    active = app.control.inspect(timeout=1.0).active() or {}
    reserved = app.control.inspect(timeout=1.0).reserved() or {}
    return not any(active.values()) and not any(reserved.values())


def _remove_ltv_data(schema: str) -> None:
    from apps.bidding.models import LtvModel, LtvTrainingRun
    from apps.stores.models import Customer, Order, StoreConnection

    with schema_context(schema):
        LtvTrainingRun.objects.all().delete()
        LtvModel.objects.all().delete()
        Order.objects.all().delete()
        Customer.objects.all().delete()
        StoreConnection.objects.all().delete()


def test_orders_to_promoted_model_to_scored_customers_with_real_workers(
    committed_db, ltv_worker, login_token
):
    from apps.bidding.models import LtvModel, LtvTrainingRun
    from apps.stores.models import Customer

    a, b = committed_db.a, committed_db.b
    admin = api_client_for(a.host, token=login_token(a, a.admin_email))
    analyst = api_client_for(a.host, token=login_token(a, a.analyst_email))
    ml_redis().flushdb()
    ml_proc = None
    try:
        store = admin.post("/api/v1/stores", {"name": "Web shop", "currency": "USD"}, format="json")
        assert store.status_code == 201, store.content
        post_orders(admin, store.json()["id"], simulated_orders(200, seed=21, channels=True))
        # Each committed upsert enqueued a re-score: without a model, customers get BG/NBD+GG.
        _wait(
            "fallback scores after the orders",
            lambda: _scored(a.schema, fallback=True) == 200,
        )

        assert analyst.post("/api/v1/ltv/models/train", {}, format="json").status_code == 403
        requested = admin.post("/api/v1/ltv/models/train", {"horizon_days": 180}, format="json")
        assert requested.status_code == 202, requested.content
        run_id = requested.json()["id"]

        def finished():
            body = analyst.get(f"/api/v1/ltv/runs/{run_id}").json()
            return body if body["status"] in ("done", "failed") else None

        run = _wait("training run finished", finished)
        assert run["status"] == "done", run["error"]
        assert run["promoted"] is True
        version = run["model_version"]
        assert run["decision"].startswith("Promoted:")
        _wait(
            "customers re-scored with the promoted model", lambda: _scored(a.schema, version=version) == 200
        )
        _wait("worker idle", _worker_idle, timeout=60)
        with schema_context(a.schema):
            model = LtvModel.objects.get(version=version)
            assert model.status == LtvModel.Status.ACTIVE
            for c in Customer.objects.all():
                assert 0 <= c.predicted_ltv_low <= c.predicted_ltv <= c.predicted_ltv_high
                assert c.ltv_state is not None
                assert not c.ltv_fallback
            ids = list(Customer.objects.order_by("-predicted_ltv").values_list("pk", flat=True)[:5])
        with schema_context(b.schema):
            assert not LtvTrainingRun.objects.exists()
            assert not LtvModel.objects.exists()
            assert not Customer.objects.exists()

        # The fast path: a real ml worker loads the published artefact by version and runs the head
        # on the stored GRU states.
        ml_proc = subprocess.Popen(
            [sys.executable, "-m", "ml.serving.worker", "--redis-url", settings.REDIS_ML_URL],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait("ml worker heartbeat", lambda: read_heartbeats(ml_redis()), timeout=60)
        answer = analyst.post("/api/v1/ltv/score", {"horizon_days": 180, "customer_ids": ids}, format="json")
        assert answer.status_code == 200, answer.content
        results = answer.json()["results"]
        assert [r["id"] for r in results] == [str(i) for i in ids]
        assert all(not r["fallback"] for r in results), results
        assert {r["model_version"] for r in results} == {version}
        for r in results:
            assert float(r["spend_p10"]) <= float(r["expected_spend"]) <= float(r["spend_p90"])
    finally:
        if ml_proc is not None:
            os.killpg(ml_proc.pid, signal.SIGTERM)
            ml_proc.wait(timeout=20)
        try:
            _wait("worker idle before clean-up", _worker_idle, timeout=120)
        finally:
            _remove_ltv_data(a.schema)
            _remove_ltv_data(b.schema)
            ml_redis().flushdb()


def _scored(schema: str, *, fallback: bool | None = None, version: str | None = None) -> int:
    from apps.stores.models import Customer

    with schema_context(schema):
        rows = Customer.objects.filter(predicted_ltv__isnull=False)
        if fallback is not None:
            rows = rows.filter(ltv_fallback=fallback)
        if version is not None:
            rows = rows.filter(ltv_model_version=version)
        return rows.count()
