"""`manage.py seed_demo` (run by `make run`): the sandbox store with generated orders and a requested
LTV training run, idempotent."""

from __future__ import annotations

import io

from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.bidding.models import LtvTrainingRun
from apps.governance.tenancy.management.commands import seed_demo
from apps.stores.models import Customer, Order, StoreConnection


def test_seed_demo_adds_a_sandbox_store_once_and_requests_training(
    tenants, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(seed_demo, "DEMO_CUSTOMERS", 60)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("seed_demo", stdout=out)
        call_command("seed_demo", stdout=out)
    assert "generated orders of 60 customers" in out.getvalue()
    assert "LTV training run" in out.getvalue()
    with schema_context("demo"):
        store = StoreConnection.objects.get(name=seed_demo.DEMO_STORE)
        assert store.platform == StoreConnection.Platform.MANUAL
        assert Customer.objects.filter(store=store).count() == 60
        orders = Order.objects.filter(store=store).count()
        assert orders > 60
        runs = list(LtvTrainingRun.objects.all())
        assert [(r.status, r.requested_by) for r in runs] == [("requested", "seed_demo")]
        first = Order.objects.filter(store=store).earliest("placed_at").placed_at
        last = Order.objects.filter(store=store).latest("placed_at").placed_at
        assert (last - first).days <= seed_demo.DEMO_DAYS
    assert len(callbacks) == 2  # the first call only: re-scoring its customers, then the training task
    for info in tenants:
        with schema_context(info.schema):
            assert not StoreConnection.objects.filter(name=seed_demo.DEMO_STORE).exists()
