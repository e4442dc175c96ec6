"""LTV end to end through the real path, two tenants: orders over HTTP → training requested over HTTP
→ the Celery task (eager here; tests/test_ltv_integration.py runs a real worker) → promotion →
customers scored with states → new orders re-score only their customers; beta stays untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import schema_context
from prometheus_client import REGISTRY

from apps.bidding.ltv import ltv_should_promote
from apps.bidding.models import LtvModel, LtvTrainingRun
from apps.bidding.tasks import score_customers, train_ltv_model
from apps.core.ml import ml_redis
from apps.stores.models import Customer
from conftest import api_client_for
from ml.serving import wire
from tests.ltv_data import post_orders, simulated_orders, yesterday

pytestmark = [pytest.mark.slow]


@pytest.fixture
def eager():
    """Tasks run in-process as they are enqueued (unit-test mode; STYLE.md)."""
    from kiki_project.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


@pytest.fixture
def small_training(settings):
    settings.KIKI_LTV_TRAIN_MAX_EPOCHS = 2
    settings.KIKI_LTV_MIN_CUSTOMERS = 50
    settings.KIKI_LTV_MIN_HISTORY_DAYS = 90
    ml_redis().flushdb()
    yield settings
    ml_redis().flushdb()


@pytest.fixture
def clients(tenants, login_token):
    def make(info, role):
        return api_client_for(info.host, token=login_token(info, getattr(info, f"{role}_email")))

    return {(info.slug, role): make(info, role) for info in tenants for role in ("admin", "analyst")}


def ltv_total(schema: str) -> float:
    return REGISTRY.get_sample_value("syncvalue_predicted_ltv_total", {"tenant": schema}) or 0.0


def ingest(client, customers: int, seed: int, *, channels: bool = False) -> int:
    store = client.post("/api/v1/stores", {"name": "Web shop", "currency": "USD"}, format="json")
    assert store.status_code == 201, store.content
    post_orders(client, store.json()["id"], simulated_orders(customers, seed=seed, channels=channels))
    return int(store.json()["id"])


def snapshot(schema: str) -> dict[int, tuple]:
    with schema_context(schema):
        return {
            c.pk: (
                c.predicted_ltv,
                c.predicted_ltv_low,
                c.predicted_ltv_high,
                c.ltv_model_version,
                c.ltv_scored_at,
            )
            for c in Customer.objects.defer("ltv_state")
        }


def train(client, captured, **body):
    """POST train as an Admin and run what the commit would have started (the task, eagerly)."""
    with captured(execute=True):
        response = client.post("/api/v1/ltv/models/train", body, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_train_promote_score_retrain_and_rescore(
    tenants, clients, eager, small_training, django_capture_on_commit_callbacks
):
    a, b = tenants
    store_a = ingest(clients[("alpha", "admin")], 300, seed=5, channels=True)
    ingest(clients[("beta", "admin")], 60, seed=6)
    beta_before = snapshot(b.schema)
    spent_before, beta_spent_before = ltv_total(a.schema), ltv_total(b.schema)

    # An Analyst may read the registry but not train.
    denied = clients[("alpha", "analyst")].post("/api/v1/ltv/models/train", {}, format="json")
    assert denied.status_code == 403
    with schema_context(a.schema):
        assert not LtvTrainingRun.objects.exists()

    run_id = train(clients[("alpha", "admin")], django_capture_on_commit_callbacks, horizon_days=180)
    with schema_context(a.schema):
        run = LtvTrainingRun.objects.get(pk=run_id)
        assert run.status == LtvTrainingRun.Status.DONE, run.error
        assert run.promoted
        model = LtvModel.objects.get()
        assert model.status == LtvModel.Status.ACTIVE
        assert run.model_id == model.pk
        assert model.decision.startswith("Promoted: first model")
        assert model.current_metrics is None
        assert {"spend_mae", "purchases_mae", "coverage_10_90"} <= set(model.candidate_metrics)
        assert all(isinstance(v, float) for v in model.candidate_metrics.values())
        assert model.calibration_end == yesterday()
        assert model.horizon_days == 180
        assert model.customers_count == 300
        assert model.validation_to == yesterday()
        assert model.metadata["model_version"] == model.version
        # The customers' acquisition sources are inputs of the model (alpha's data has them).
        assert model.metadata["channels"]["slots"] == 8
        assert set(model.metadata["channels"]["vocabulary"]) <= {"search", "social", "email", "direct"}
        assert len(model.metadata["channels"]["vocabulary"]) >= 2
        assert bytes(model.artefact)[:2] == b"PK"  # torch's zip container
        customers = list(Customer.objects.all())
    assert ml_redis().get(wire.artefact_key(model.version)) == bytes(model.artefact)  # published after commit
    assert len(customers) == 300
    for c in customers:
        assert c.predicted_ltv is not None, c.pk
        assert 0 <= c.predicted_ltv_low <= c.predicted_ltv <= c.predicted_ltv_high
        assert c.ltv_model_version == model.version
        assert not c.ltv_fallback
        assert c.ltv_horizon_days == 180
        assert c.ltv_scored_at is not None
        assert c.predicted_purchases is not None
        assert len(bytes(c.ltv_state)) > 0
        assert len(bytes(c.ltv_state)) % 4 == 0
        assert c.ltv_state_as_of == datetime.now(UTC).date()
    assert snapshot(b.schema) == beta_before  # beta: untouched
    assert all(v[0] is None for v in beta_before.values())
    added = ltv_total(a.schema) - spent_before
    assert added == pytest.approx(sum(int(c.predicted_ltv * 1_000_000) for c in customers), rel=1e-9)
    assert ltv_total(b.schema) == beta_spent_before

    listed = clients[("alpha", "analyst")].get("/api/v1/ltv/models").json()["results"]
    assert [(m["version"], m["status"]) for m in listed] == [(model.version, "active")]
    assert listed[0]["decision"] == model.decision
    assert "artefact" not in listed[0]
    shown = clients[("alpha", "analyst")].get(f"/api/v1/ltv/runs/{run_id}").json()
    assert (shown["status"], shown["promoted"], shown["model_version"]) == ("done", True, model.version)
    assert clients[("beta", "analyst")].get("/api/v1/ltv/models").json()["results"] == []

    # The re-delivered task of a finished run does nothing.
    with schema_context(a.schema):
        assert train_ltv_model(run_id) == "done"
        assert LtvTrainingRun.objects.get(pk=run_id).attempts == 1
        assert LtvModel.objects.count() == 1
        # Scoring again on the same data stores the same values: nothing is written.
        assert score_customers() == 0
    scored = snapshot(a.schema)

    # Training again on the same data does not promote, and says why.
    again = train(clients[("alpha", "admin")], django_capture_on_commit_callbacks, horizon_days=180)
    with schema_context(a.schema):
        second = LtvTrainingRun.objects.get(pk=again)
        assert second.status == LtvTrainingRun.Status.DONE
        assert not second.promoted
        assert "equal figures are not better" in second.decision
        assert LtvModel.objects.get(status=LtvModel.Status.ACTIVE).pk == model.pk
        assert LtvModel.objects.count() == 1
    assert snapshot(a.schema) == scored

    # A new order re-scores its customer, and only that customer.
    with schema_context(a.schema):
        target = Customer.objects.order_by("pk").first()
    new_order = {
        "platform_id": "new-1",
        "placed_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "total": "250.00",
        "customer": {"platform_id": target.platform_id},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = clients[("alpha", "admin")].post(
            "/api/v1/orders", {"store": store_a, "orders": [new_order]}, format="json"
        )
    assert response.json()["customers_changed"] == 1
    after = snapshot(a.schema)
    changed = {pk for pk in scored if scored[pk] != after[pk]}
    assert changed == {target.pk}
    assert after[target.pk][3] == model.version
    # The same order sent again changes nothing and re-scores nobody.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resend = clients[("alpha", "admin")].post(
            "/api/v1/orders", {"store": store_a, "orders": [new_order]}, format="json"
        )
    assert resend.json()["unchanged"] == 1
    assert callbacks == []
    assert snapshot(a.schema) == after
    assert snapshot(b.schema) == beta_before


def test_a_different_model_is_compared_on_the_same_window(
    tenants, clients, eager, small_training, django_capture_on_commit_callbacks
):
    a = tenants.a
    ingest(clients[("alpha", "admin")], 250, seed=8)
    first = train(clients[("alpha", "admin")], django_capture_on_commit_callbacks, horizon_days=180)
    second = train(clients[("alpha", "admin")], django_capture_on_commit_callbacks, horizon_days=90)
    with schema_context(a.schema):
        old = LtvTrainingRun.objects.get(pk=first).model
        run = LtvTrainingRun.objects.get(pk=second)
        new = run.model
        assert run.status == LtvTrainingRun.Status.DONE, run.error
        assert new.version != old.version
        assert new.compared_with == old.version
        assert set(new.current_metrics) == set(new.candidate_metrics)
        expected = ltv_should_promote(new.candidate_metrics, new.current_metrics)
        assert run.promoted is expected
        old.refresh_from_db()
        if expected:
            assert (new.status, old.status) == (LtvModel.Status.ACTIVE, LtvModel.Status.RETIRED)
            assert new.decision.startswith("Promoted:")
            assert Customer.objects.exclude(ltv_model_version=new.version).count() == 0
        else:
            assert (new.status, old.status) == (LtvModel.Status.REJECTED, LtvModel.Status.ACTIVE)
            assert new.decision.startswith("Rejected:")
            assert Customer.objects.exclude(ltv_model_version=old.version).count() == 0
        assert f"{new.current_metrics['spend_mae']:.2f}" in new.decision
        assert LtvModel.objects.filter(status=LtvModel.Status.ACTIVE).count() == 1


def test_too_little_data_fails_the_run_with_the_reason(
    tenants, clients, eager, small_training, django_capture_on_commit_callbacks
):
    b = tenants.b
    ingest(clients[("beta", "admin")], 30, seed=9)
    run_id = train(clients[("beta", "admin")], django_capture_on_commit_callbacks)
    with schema_context(b.schema):
        run = LtvTrainingRun.objects.get(pk=run_id)
        assert run.status == LtvTrainingRun.Status.FAILED
        assert "Too little data to train: 30 customer(s)" in run.error
        assert "at least 50 needed" in run.error
        assert not LtvModel.objects.exists()
    body = clients[("beta", "analyst")].get(f"/api/v1/ltv/runs/{run_id}").json()
    assert body["status"] == "failed"
    assert "Too little data" in body["error"]
    with schema_context(tenants.a.schema):
        assert not LtvTrainingRun.objects.filter(pk=run_id, requested_by=f"user:{b.admin_email}").exists()


def test_without_a_model_customers_get_the_fallback_on_new_orders(
    tenants, clients, eager, small_training, django_capture_on_commit_callbacks
):
    a = tenants.a
    client = clients[("alpha", "admin")]
    store = client.post("/api/v1/stores", {"name": "Shop", "currency": "USD"}, format="json").json()["id"]
    orders = simulated_orders(40, seed=10)
    with django_capture_on_commit_callbacks(execute=True):
        post_orders(client, store, orders)
    with schema_context(a.schema):
        customers = list(Customer.objects.all())
    assert len(customers) == 40
    for c in customers:
        assert c.ltv_fallback
        assert c.ltv_model_version.startswith("bgnbd-gg-")
        assert c.ltv_state is None
        assert 0 <= c.predicted_ltv_low <= c.predicted_ltv <= c.predicted_ltv_high
    # A customer whose only order is cancelled loses its prediction (no purchase history left).
    single = [
        o
        for o in orders
        if sum(p["customer"]["platform_id"] == o["customer"]["platform_id"] for p in orders) == 1
    ][0]
    cancelled = {**single, "cancelled_at": datetime.now(UTC).isoformat()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/v1/orders", {"store": store, "orders": [cancelled]}, format="json")
    with schema_context(a.schema):
        gone = Customer.objects.get(platform_id=single["customer"]["platform_id"])
        assert (gone.predicted_ltv, gone.ltv_scored_at, gone.ltv_model_version) == (None, None, "")
        assert Customer.objects.filter(predicted_ltv__isnull=False).count() == 39
    with schema_context(tenants.b.schema):
        assert not Customer.objects.exists()
        assert score_customers() == 0  # a workspace without orders scores nothing and fails nothing
