"""Resumable full and incremental syncs of a connected store, one resource per run.

A run reads the platform page by page through the store's adapter and writes every page through
the stores services (orders through ``orders_upsert``, the one write path) in one transaction with
the run's cursor. A worker killed mid-page loses that page's transaction, cursor included, so the
next execution (Celery's redelivery, or the stalled-run sweep) reads it again: nothing is lost and,
since every write is an idempotent upsert, nothing counts twice.

Incremental runs read what changed since the last successful run's start, minus an overlap
(``KIKI_SYNC_LOOKBACK_MINUTES``) for clocks and for changes committed while that run read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.actor import Actor
from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.integrations.base import Adapter, AuthExpired, Page, PlatformError, gc_paused
from apps.stores.models import StoreConnection, SyncRun
from apps.stores.services import catalog, orders
from apps.stores.services.connections import adapter_for, credentials_refresh

logger = logging.getLogger(__name__)

RESOURCE_ORDER = ("products", "customers", "orders", "inventory")  # products first: items link to them


class SyncInterrupted(Exception):
    """A transient failure (network, 5xx, throttling past its retries): the run keeps its cursor and
    the task tries again later."""


def sync_request(
    *, store: StoreConnection, resource: str, mode: str, actor: Actor, enqueue: bool = True
) -> SyncRun:
    """Queue a run (or return the one already in flight for this store and resource)."""
    schema = require_tenant("requesting a sync")
    if not store.is_connected:
        raise StoresError(ErrorCode.VALIDATION, "A manual store has nothing to sync.")
    if resource not in SyncRun.Resource.values or mode not in SyncRun.Mode.values:
        raise StoresError(
            ErrorCode.VALIDATION,
            f"Resource one of {SyncRun.Resource.values}, mode one of {SyncRun.Mode.values}.",
        )
    if store.status not in (StoreConnection.Status.CONNECTING, StoreConnection.Status.ACTIVE):
        raise StoresError(ErrorCode.VALIDATION, f"Store {store.pk} is {store.status}; reconnect it first.")
    since = None
    if mode == SyncRun.Mode.INCREMENTAL:
        last = (store.sync_cursors or {}).get(resource)
        if last:
            since = datetime.fromisoformat(last) - timedelta(minutes=settings.KIKI_SYNC_LOOKBACK_MINUTES)
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                store=store,
                resource=resource,
                mode=mode,
                since=since,
                requested_by=actor.label[: SyncRun._meta.get_field("requested_by").max_length],
            )
    except IntegrityError:
        return SyncRun.objects.get(
            store=store, resource=resource, state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING]
        )
    if enqueue:
        from apps.stores.tasks import run_sync

        transaction.on_commit(
            lambda: run_sync.apply_async(kwargs={"run_id": run.pk}, headers={"_schema_name": schema})
        )
    return run


def _write(store: StoreConnection, resource: str, records: list[Any], actor: Actor) -> None:
    if resource == "orders":
        for start in range(0, len(records), orders.MAX_ORDERS_PER_CALL):
            orders.orders_upsert(
                store=store, orders=records[start : start + orders.MAX_ORDERS_PER_CALL], actor=actor
            )
    elif resource == "products":
        catalog.products_upsert(store=store, products=records, actor=actor, source="sync")
    elif resource == "customers":
        orders.customers_upsert(store=store, customers=records, actor=actor)
    elif resource == "inventory":
        catalog.inventory_set(store=store, levels=records, actor=actor, source="sync")


def sync_run_execute(
    *,
    run_id: int,
    adapter_factory: Callable[[StoreConnection], Adapter] = adapter_for,
    max_pages: int | None = None,
) -> SyncRun:
    """Run (or resume) a sync. Idempotent: a finished run is returned as it is. ``max_pages`` stops
    after that many pages this call (the run stays ``running``, to be resumed)."""
    require_tenant("syncing a store")
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().select_related("store").get(pk=run_id)
        if run.state in (SyncRun.State.DONE, SyncRun.State.FAILED):
            return run
        if run.started_at is None:
            run.started_at = timezone.now()
        run.state = SyncRun.State.RUNNING
        run.save(update_fields=["state", "started_at"])
    store = run.store
    actor = Actor.system(f"sync:{run.pk}")
    try:
        adapter = adapter_factory(store)
        cursor = (run.cursor or {}).get("page") or {}
        # The next page is fetched while this one is written: the platform's latency and our writes
        # overlap. Only this thread writes; the fetching thread only reads the platform.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-fetch") as fetcher:
            pending: Future[Page] = fetcher.submit(
                adapter.fetch, run.resource, cursor=cursor, since=run.since
            )
            pages_now = 0
            while True:
                try:
                    page = pending.result()
                except AuthExpired:
                    credentials_refresh(store=store, force=True)
                    adapter = adapter_factory(store)
                    page = adapter.fetch(run.resource, cursor=cursor, since=run.since)
                if page.next_cursor is not None and (max_pages is None or pages_now + 1 < max_pages):
                    pending = fetcher.submit(
                        adapter.fetch, run.resource, cursor=page.next_cursor, since=run.since
                    )
                with gc_paused(), transaction.atomic():
                    _write(store, run.resource, page.records, actor)
                    run.cursor = (
                        {"page": page.next_cursor} if page.next_cursor else {"page": None, "done": True}
                    )
                    run.pages += 1
                    run.items += len(page.records)
                    if page.total is not None:
                        run.total_items = page.total
                    SyncRun.objects.filter(pk=run.pk).update(
                        cursor=run.cursor,
                        pages=run.pages,
                        items=run.items,
                        total_items=run.total_items,
                        updated_at=timezone.now(),
                    )
                pages_now += 1
                if page.next_cursor is None:
                    break
                if max_pages is not None and pages_now >= max_pages:
                    return run
                cursor = page.next_cursor
    except PlatformError as exc:
        if exc.transient:
            logger.warning("sync interrupted", extra={"run_id": run.pk, "error": str(exc)})
            raise SyncInterrupted(str(exc)) from exc
        return _finish(run, state=SyncRun.State.FAILED, error=str(exc))
    return _finish(run, state=SyncRun.State.DONE)


@transaction.atomic
def _finish(run: SyncRun, *, state: str, error: str = "") -> SyncRun:
    now = timezone.now()
    run.state, run.finished_at, run.error = state, now, error[:2000]
    run.save(update_fields=["state", "finished_at", "error"])
    store = StoreConnection.objects.select_for_update().get(pk=run.store_id)
    if state == SyncRun.State.DONE:
        cursors = dict(store.sync_cursors or {})
        cursors[run.resource] = (run.started_at or now).isoformat()
        store.sync_cursors = cursors
        store.last_sync_at = now
        store.last_error = ""
    else:
        store.last_error = f"{run.resource} sync: {error}"[:2000]
    store.save(update_fields=["sync_cursors", "last_sync_at", "last_error"])
    logger.info(
        "sync finished", extra={"run_id": run.pk, "state": state, "pages": run.pages, "items": run.items}
    )
    return run


def sync_store_all(*, store: StoreConnection, mode: str, actor: Actor, enqueue: bool = True) -> list[SyncRun]:
    """One run per resource, in dependency order."""
    return [
        sync_request(store=store, resource=r, mode=mode, actor=actor, enqueue=enqueue) for r in RESOURCE_ORDER
    ]


def stalled_runs(*, now: datetime | None = None) -> list[int]:
    """Runs left ``running`` by a worker that died (no page written for a while): to resume."""
    require_tenant("finding stalled syncs")
    limit = (now or timezone.now()) - timedelta(minutes=settings.KIKI_SYNC_STALLED_MINUTES)
    return list(
        SyncRun.objects.filter(state=SyncRun.State.RUNNING, updated_at__lt=limit).values_list("pk", flat=True)
    )
