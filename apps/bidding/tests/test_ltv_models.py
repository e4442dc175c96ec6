"""The LTV model registry API and admin, training requests, scheduling and beat wiring."""

from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings
from django.test import Client
from django_tenants.utils import schema_context

from apps.bidding import services
from apps.bidding import tasks as _registered  # noqa: F401 - registers the tasks, as a worker's start-up does
from apps.bidding.models import LtvModel, LtvTrainingRun
from apps.core.actor import Actor, ActorKind
from apps.core.tasks import Queue, dispatch_to_tenants
from conftest import api_client_for
from kiki_project.celery import app
from kiki_project.devstack import with_db_index


@pytest.fixture
def api(tenants, login_token):
    def make(info, role="admin"):
        return api_client_for(info.host, token=login_token(info, getattr(info, f"{role}_email")))

    return make


def test_training_request_is_admin_only_and_validated(tenants, api, django_capture_on_commit_callbacks):
    analyst, admin = api(tenants.a, "analyst"), api(tenants.a)
    assert analyst.get("/api/v1/ltv/models").status_code == 200
    assert analyst.get("/api/v1/ltv/runs").status_code == 200
    assert analyst.post("/api/v1/ltv/models/train", {}, format="json").status_code == 403
    for horizon in (29, 1096, "soon"):
        bad = admin.post("/api/v1/ltv/models/train", {"horizon_days": horizon}, format="json")
        assert bad.status_code == 400
        assert "horizon_days" in bad.json()["error"]["details"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        accepted = admin.post("/api/v1/ltv/models/train", {}, format="json")
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "requested"
    assert accepted.json()["horizon_days"] == settings.KIKI_LTV_HORIZON_DAYS
    assert len(callbacks) == 1  # the task is enqueued after commit
    busy = admin.post("/api/v1/ltv/models/train", {"horizon_days": 90}, format="json")
    assert busy.status_code == 409
    assert busy.json()["error"]["details"]["run_id"] == accepted.json()["id"]
    with schema_context(tenants.a.schema):
        assert LtvTrainingRun.objects.count() == 1
    with schema_context(tenants.b.schema):
        assert not LtvTrainingRun.objects.exists()  # beta can still train: runs are per workspace
    assert api(tenants.b).post("/api/v1/ltv/models/train", {}, format="json").status_code == 202


def test_runs_of_one_tenant_are_not_visible_to_the_other(tenants, api):
    with schema_context(tenants.a.schema):
        run = services.ltv_training_request(actor=Actor(ActorKind.USER, "7", "someone@alpha.test"))
    with schema_context(tenants.b.schema):
        while LtvTrainingRun.objects.filter(pk=run.pk).exists():  # ids are per schema
            LtvTrainingRun.objects.filter(pk=run.pk).delete()
    on_b = api(tenants.b, "analyst").get(f"/api/v1/ltv/runs/{run.pk}")
    assert on_b.status_code == 404
    assert b"someone@alpha.test" not in on_b.content
    assert (
        api(tenants.a, "analyst").get(f"/api/v1/ltv/runs/{run.pk}").json()["requested_by"]
        == "user:someone@alpha.test"
    )


def test_a_run_that_does_not_exist_is_not_found(tenants):
    from apps.bidding.errors import BiddingError

    with schema_context(tenants.a.schema), pytest.raises(BiddingError, match="No LTV training run"):
        services.ltv_model_train(run_id=10**9)


def test_scheduled_training_skips_a_workspace_without_enough_data(tenants):
    with schema_context(tenants.a.schema):
        assert services.ltv_training_scheduled(actor=Actor.system("beat")) is None
        assert not LtvTrainingRun.objects.exists()
        services.ltv_training_request(actor=Actor.system("admin"))
        assert services.ltv_training_scheduled(actor=Actor.system("beat")) is None  # one in flight already
        assert LtvTrainingRun.objects.count() == 1


def _session(info, email):
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def test_admin_train_now_is_for_admins(tenants, django_capture_on_commit_callbacks):
    admin, analyst = _session(tenants.a, tenants.a.admin_email), _session(tenants.a, tenants.a.analyst_email)
    page = analyst.get("/admin/bidding/ltvtrainingrun/")
    assert page.status_code == 200
    assert "Train now" not in page.content.decode()
    analyst.post("/admin/bidding/ltvtrainingrun/train/")
    with schema_context(tenants.a.schema):
        assert not LtvTrainingRun.objects.exists()
    assert "Train now" in admin.get("/admin/bidding/ltvtrainingrun/").content.decode()
    assert admin.get("/admin/bidding/ltvtrainingrun/train/").status_code == 302  # GET does nothing
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert admin.post("/admin/bidding/ltvtrainingrun/train/").status_code == 302
    assert len(callbacks) == 1
    with schema_context(tenants.a.schema):
        run = LtvTrainingRun.objects.get()
        assert run.requested_by == f"user:{tenants.a.admin_email}"
    listing = admin.get("/admin/bidding/ltvmodel/")
    assert listing.status_code == 200
    with schema_context(tenants.b.schema):
        assert not LtvTrainingRun.objects.exists()


def test_ltv_beat_entries_dispatch_registered_tasks():
    entries = {k: v for k, v in app.conf.beat_schedule.items() if k.startswith("ltv-")}
    assert set(entries) == {"ltv-nightly-scoring", "ltv-weekly-training"}
    for entry in entries.values():
        assert entry["task"] == "core.dispatch_to_tenants"
        assert entry["args"][0] in app.tasks
    assert app.tasks["bidding.train_ltv_model"].queue == Queue.ML
    assert (
        app.tasks["bidding.train_ltv_model"].soft_time_limit
        > app.tasks["bidding.score_customers"].soft_time_limit
    )
    assert app.conf.timezone == "UTC"


def test_nightly_scoring_is_dispatched_to_each_tenant_on_the_bidding_queue(tenants, settings):
    import os

    settings.KIKI_TENANT_DISPATCH_JITTER_S = 0
    base = int(os.environ.get("KIKI_REDIS_DB_BASE", "0"))
    broker = redis.Redis.from_url(with_db_index(settings.REDIS_URL, base + 1))
    app.control.purge()
    try:
        dispatch_to_tenants("bidding.score_customers")
        queued = [json.loads(raw)["headers"] for raw in broker.lrange(Queue.BIDDING.value, 0, -1)]
        assert {h["task"] for h in queued} == {"bidding.score_customers"}
        assert {tenants.a.schema, tenants.b.schema} <= {h["_schema_name"] for h in queued}
        assert "public" not in {h["_schema_name"] for h in queued}
    finally:
        app.control.purge()
        broker.close()


def test_models_admin_hides_the_artefact(tenants):
    with schema_context(tenants.a.schema):
        assert LtvModel.objects.count() == 0
    admin = _session(tenants.a, tenants.a.admin_email)
    assert admin.get("/admin/bidding/ltvmodel/add/").status_code == 403
