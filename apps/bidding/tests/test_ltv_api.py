"""POST /api/v1/ltv/score: integrators score purchase histories, through the ml worker or its fallback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from prometheus_client import REGISTRY

from apps.core.actor import Actor
from apps.core.ml import ml_redis
from conftest import api_client_for
from ml.serving.worker import read_heartbeats

ROOT = Path(__file__).resolve().parents[3]
BODY = {
    "horizon_days": 180,
    "as_of": "2024-06-30",
    "customers": [
        {
            "id": "c-1",
            "purchases": [
                {"date": "2024-01-05", "amount": "40.00"},
                {"date": "2024-03-01", "amount": "55.5"},
                {"date": "2024-06-01", "amount": "61.25"},
            ],
        },
        {"id": "c-2", "purchases": [{"date": "2024-06-20", "amount": "19.99"}]},
        {
            "id": "c-3",
            "purchases": [{"date": "2023-07-01", "amount": "300"}, {"date": "2025-01-01", "amount": "9999"}],
        },
    ],
}


def ltv_total(tenant: str) -> float:
    return REGISTRY.get_sample_value("syncvalue_predicted_ltv_total", {"tenant": tenant}) or 0.0


@pytest.fixture
def analyst_api(tenants, login_token):
    ml_redis().flushdb()
    return api_client_for(tenants.a.host, token=login_token(tenants.a, tenants.a.analyst_email))


def test_scores_with_fallback_when_no_worker_runs(tenants, analyst_api):
    before, before_b = ltv_total(tenants.a.schema), ltv_total(tenants.b.schema)
    response = analyst_api.post("/api/v1/ltv/score", BODY, format="json")
    assert response.status_code == 200, response.content
    results = {r["id"]: r for r in response.json()["results"]}
    assert set(results) == {"c-1", "c-2", "c-3"}
    assert all(r["fallback"] for r in results.values())
    one = results["c-1"]
    assert float(one["spend_p10"]) <= float(one["expected_spend"]) <= float(one["spend_p90"])
    assert one["expected_spend_micros"] == pytest.approx(float(one["expected_spend"]) * 1_000_000, abs=5_000)
    assert results["c-1"]["expected_purchases"] > results["c-3"]["expected_purchases"]  # recent repeat buyer
    added = ltv_total(tenants.a.schema) - before
    assert added == pytest.approx(sum(r["expected_spend_micros"] for r in results.values()), abs=3)
    assert ltv_total(tenants.b.schema) == before_b  # counted for the caller's tenant only


def test_later_purchases_are_ignored(tenants, analyst_api):
    first = analyst_api.post("/api/v1/ltv/score", BODY, format="json").json()["results"]
    changed = {
        **BODY,
        "customers": [
            *BODY["customers"][:2],
            {
                "id": "c-3",
                "purchases": [{"date": "2023-07-01", "amount": "300"}, {"date": "2025-01-01", "amount": "1"}],
            },
        ],
    }
    second = analyst_api.post("/api/v1/ltv/score", changed, format="json").json()["results"]
    assert first == second


def test_served_by_a_real_worker(tenants, analyst_api):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml.serving.worker", "--redis-url", settings.REDIS_ML_URL],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not read_heartbeats(ml_redis()) and time.monotonic() < deadline:
            time.sleep(0.05)
        response = analyst_api.post("/api/v1/ltv/score", BODY, format="json")
        assert response.status_code == 200
        results = response.json()["results"]
        assert not any(r["fallback"] for r in results)
        assert all(
            r["model_version"].startswith("bgnbd-gg-") for r in results
        )  # no model file: baseline priors
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"horizon_days": 0}, "horizon_days"),
        ({"customers": []}, "customers"),
        ({"customers": [{"id": "x", "purchases": []}]}, "customers"),
        ({"customers": [{"id": "x", "purchases": [{"date": "2024-13-01", "amount": "1"}]}]}, "customers"),
        ({"customers": [{"id": "x", "purchases": [{"date": "2024-01-01", "amount": "-5"}]}]}, "customers"),
        ({"customers": [{"id": "x", "purchases": [{"date": "2025-01-01", "amount": "5"}]}]}, "customers"),
        ({"customers": [BODY["customers"][0], BODY["customers"][0]]}, "customers"),
    ],
)
def test_bad_input_gets_a_reason(analyst_api, change, field):
    response = analyst_api.post("/api/v1/ltv/score", {**BODY, **change}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]


def test_requires_sign_in_and_the_permission(tenants):
    assert api_client_for(tenants.a.host).post("/api/v1/ltv/score", BODY, format="json").status_code == 401


# --- stored customers (customer_ids): the bid-time fast path -------------------------------------
def _stored_customers(schema: str, n: int = 3) -> list[int]:
    from datetime import UTC, datetime
    from decimal import Decimal

    from django_tenants.utils import schema_context

    from apps.stores import selectors, services

    with schema_context(schema):
        store = services.store_create(name="Shop", currency="USD", actor=Actor.system("test"))
        orders = [
            services.OrderInput(
                platform_id=f"o{i}-{k}",
                placed_at=datetime(2024, 1 + k * 2, 1 + i, 12, tzinfo=UTC),
                total=Decimal("30.00") + i,
                customer=services.CustomerInput(platform_id=f"c{i}"),
            )
            for i in range(n)
            for k in range(i + 1)
        ]
        result = services.orders_upsert(store=store, orders=orders, actor=Actor.system("test"))
        ids = list(result.changed_customer_ids)
        assert len(selectors.customers_for_scoring(customer_ids=ids)) == n
        return ids


def test_stored_customers_get_fallback_answers_without_a_worker(tenants, analyst_api):
    ids = _stored_customers(tenants.a.schema)
    before = ltv_total(tenants.a.schema)
    response = analyst_api.post(
        "/api/v1/ltv/score", {"horizon_days": 365, "as_of": "2024-12-31", "customer_ids": ids}, format="json"
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["id"] for r in results] == [str(i) for i in ids]
    assert all(r["fallback"] for r in results)
    assert all(r["model_version"].startswith("bgnbd-gg-") for r in results)
    for r in results:
        assert float(r["spend_p10"]) <= float(r["expected_spend"]) <= float(r["spend_p90"])
    assert results[-1]["expected_purchases"] > results[0]["expected_purchases"]  # three orders vs one
    assert ltv_total(tenants.a.schema) - before == pytest.approx(
        sum(r["expected_spend_micros"] for r in results), abs=3
    )


def test_unknown_and_other_tenants_customer_ids_are_named(tenants, analyst_api):
    ids = _stored_customers(tenants.a.schema)
    beta_ids = _stored_customers(tenants.b.schema, n=5)
    only_beta = [i for i in beta_ids if i not in ids] or [max(beta_ids) + 1000]
    response = analyst_api.post(
        "/api/v1/ltv/score", {"horizon_days": 365, "customer_ids": [ids[0], *only_beta]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert all(str(i) in error["message"] for i in only_beta[:20])
    assert len(error["details"]["customer_ids"]) == len(only_beta)


def test_customer_ids_scored_before_their_orders_are_refused(tenants, analyst_api):
    ids = _stored_customers(tenants.a.schema)
    response = analyst_api.post(
        "/api/v1/ltv/score", {"horizon_days": 365, "as_of": "2023-12-31", "customer_ids": ids}, format="json"
    )
    assert response.status_code == 400
    assert "customer_ids" in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"horizon_days": 30},
        {"horizon_days": 30, "customer_ids": [1], "customers": BODY["customers"]},
        {"horizon_days": 30, "customer_ids": []},
        {"horizon_days": 30, "customer_ids": [1, 1]},
        {"horizon_days": 30, "customer_ids": ["x"]},
    ],
)
def test_customer_ids_or_customers_exactly_one(analyst_api, body):
    response = analyst_api.post("/api/v1/ltv/score", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
