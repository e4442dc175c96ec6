"""Stores tasks (queue ``sync`` for syncs and connecting, ``webhooks`` for deliveries): thin, by id,
idempotent. Periodic ones are dispatched per tenant by ``core.dispatch_to_tenants`` (beat)."""

from __future__ import annotations

import logging

from apps.core.actor import Actor
from apps.core.tasks import Queue, TransientError, kiki_task
from apps.core.tenant_context import current_schema
from apps.stores import services
from apps.stores.models import StoreConnection, SyncRun
from apps.stores.services import baseline, privacy, sync, webhooks

logger = logging.getLogger(__name__)


@kiki_task("stores.run_sync", queue=Queue.SYNC, max_retries=8, soft_time_limit=3300, time_limit=3600)
def run_sync(run_id: int) -> str:
    try:
        return sync.sync_run_execute(run_id=run_id).state
    except sync.SyncInterrupted as exc:
        raise TransientError(str(exc)) from exc  # retried with back-off; the run resumes at its cursor


@kiki_task("stores.connect", queue=Queue.SYNC, max_retries=5)
def connect_store(store_id: int) -> str:
    """After the credentials: webhooks, the initial full sync of every resource, the baseline."""
    try:
        return services.store_finish_connect(
            store_id=store_id, actor=Actor.system("celery:stores.connect")
        ).status
    except sync.SyncInterrupted as exc:
        raise TransientError(str(exc)) from exc


@kiki_task("stores.process_webhook", queue=Queue.WEBHOOKS, max_retries=3)
def process_webhook(delivery_id: int) -> str:
    """One delivery by id. Nothing enqueues it any more (``drain_webhooks`` does the work); it stays
    registered so that messages queued before an upgrade are still processed."""
    return webhooks.webhook_process(delivery_id=delivery_id).status


@kiki_task("stores.drain_webhooks", queue=Queue.WEBHOOKS)
def drain_webhooks() -> int:
    """Every delivery waiting in this workspace (woken by the first delivery of a burst)."""
    return webhooks.webhooks_drain()


@kiki_task("stores.compute_baseline", queue=Queue.SYNC)
def compute_baseline(store_id: int) -> str:
    store = StoreConnection.objects.get(pk=store_id)
    return str(
        baseline.baseline_compute(store=store, actor=Actor.system("celery:stores.compute_baseline")).pk
    )


@kiki_task("stores.poll_stores", queue=Queue.SYNC)
def poll_stores() -> int:
    """Hourly, per tenant: an incremental run of every resource of every active connected store,
    closing the gaps that missed webhooks leave; stalled runs (a worker died) are resumed."""
    queued = 0
    for store in StoreConnection.objects.filter(status=StoreConnection.Status.ACTIVE).exclude(
        platform=StoreConnection.Platform.MANUAL
    ):
        queued += len(
            sync.sync_store_all(
                store=store, mode=SyncRun.Mode.INCREMENTAL, actor=Actor.system("celery:stores.poll_stores")
            )
        )
    for run_id in sync.stalled_runs():
        logger.warning("resuming a stalled sync", extra={"run_id": run_id})
        run_sync.apply_async(kwargs={"run_id": run_id}, headers={"_schema_name": current_schema()})
    if webhooks.webhooks_waiting_since(minutes=5):
        webhooks.webhooks_wake(current_schema())
    return queued


@kiki_task("stores.apply_retention", queue=Queue.DEFAULT)
def apply_retention() -> dict[str, int]:
    return privacy.retention_apply()
