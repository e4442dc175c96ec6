"""Beat's tenant dispatcher: one task per active tenant, each carrying its schema; heartbeats."""

from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings

from apps.core import heartbeat
from apps.core.actor import Actor
from apps.core.tasks import dispatch_to_tenants, record_worker_heartbeat
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.services import tenant_set_status
from kiki_project.devstack import with_db_index


@pytest.fixture
def broker() -> redis.Redis:
    from kiki_project.celery import app

    app.control.purge()
    base = int(__import__("os").environ.get("KIKI_REDIS_DB_BASE", "0"))
    client = redis.Redis.from_url(with_db_index(settings.REDIS_URL, base + 1))
    yield client
    app.control.purge()


def _queued_schemas(client: redis.Redis, queue: str = "default") -> list[str]:
    schemas = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "core.tenant_housekeeping"
        schemas.append(message["headers"]["_schema_name"])
    return schemas


def test_dispatch_enqueues_one_task_per_active_tenant_in_its_schema(tenants, broker, settings):
    settings.KIKI_TENANT_DISPATCH_JITTER_S = 0
    count = dispatch_to_tenants("core.tenant_housekeeping")
    active = set(
        Tenant.objects.filter(status="active")
        .exclude(schema_name="public")
        .values_list("schema_name", flat=True)
    )
    assert count == len(active)
    assert sorted(_queued_schemas(broker)) == sorted(active)
    assert "public" not in _queued_schemas(broker)


def test_dispatch_skips_suspended_tenants(tenants, broker, settings):
    settings.KIKI_TENANT_DISPATCH_JITTER_S = 0
    beta = Tenant.objects.get(slug=tenants.b.slug)
    tenant_set_status(tenant=beta, status=Tenant.Status.SUSPENDED, actor=Actor.system("test"))
    dispatch_to_tenants("core.tenant_housekeeping")
    queued = _queued_schemas(broker)
    assert tenants.a.schema in queued
    assert tenants.b.schema not in queued


def test_dispatch_refuses_unknown_task(tenants):
    with pytest.raises(ValueError, match="unknown task"):
        dispatch_to_tenants("core.no_such_task")


def test_worker_heartbeat_task_records_liveness(platform_redis):
    assert heartbeat.age_seconds("worker") is None
    record_worker_heartbeat()
    age = heartbeat.age_seconds("worker")
    assert age is not None
    assert age < 5


def test_housekeeping_refuses_the_public_schema(db):
    from apps.core.tasks import tenant_housekeeping

    with pytest.raises(ValueError, match="tenant schema"):
        tenant_housekeeping()


def test_beat_scheduler_writes_its_heartbeat_as_it_ticks(platform_redis, tmp_path):
    from apps.core.beat import HeartbeatScheduler
    from kiki_project.celery import app

    scheduler = HeartbeatScheduler(app=app, schedule_filename=str(tmp_path / "beat-schedule"), lazy=False)
    try:
        assert heartbeat.age_seconds("beat") is None
        next_in = scheduler.tick()
        assert heartbeat.age_seconds("beat") is not None
        assert next_in <= HeartbeatScheduler.heartbeat_every_s
    finally:
        scheduler.close()
