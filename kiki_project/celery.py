"""The one Celery app (tenant-aware: the schema travels in the task headers) and the beat schedule.

Every periodic task is declared here, in one place. Beat only enqueues.
"""

from __future__ import annotations

import os

from celery.schedules import crontab
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiki_project.settings")

app = CeleryApp("kiki")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_default_queue="default",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_scheduler="apps.core.beat:HeartbeatScheduler",
    # Every queue a worker of `make run` consumes; see apps.core.tasks.Queue.
    task_create_missing_queues=True,
    timezone="UTC",
    enable_utc=True,
)
app.autodiscover_tasks(
    ["apps.core", "apps.governance", "apps.stores", "apps.bidding", "apps.billing", "apps.recon"]
)

HEARTBEAT_EVERY_S = float(os.environ.get("KIKI_HEARTBEAT_INTERVAL_S", "15"))

app.conf.beat_schedule = {
    "worker-heartbeat": {
        "task": "core.record_worker_heartbeat",
        "schedule": HEARTBEAT_EVERY_S,
        "options": {"expires": HEARTBEAT_EVERY_S * 2},
    },
    "tenant-housekeeping": {
        "task": "core.dispatch_to_tenants",
        "schedule": 3600.0,
        "args": ("core.tenant_housekeeping",),
    },
    # LTV: every customer re-scored nightly with the workspace's active model (or BG/NBD+GG)…
    "ltv-nightly-scoring": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(hour=2, minute=30),
        "args": ("bidding.score_customers",),
    },
    # … and a new model trained weekly, promoted only when it beats the active one.
    "ltv-weekly-training": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(day_of_week="sunday", hour=3, minute=0),
        "args": ("bidding.train_ltv_scheduled",),
    },
    # Stores: an incremental sync of every connected store hourly (what missed webhooks left out; runs
    # left behind by a dead worker resume), and retention daily.
    "stores-poll": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(minute=7),
        "args": ("stores.poll_stores",),
    },
    # Ad platforms: queued changes that are due (retries, lost enqueues) every minute; spend reports
    # of every active account hourly (the last KIKI_SPEND_LOOKBACK_DAYS days, which platforms revise).
    "bidding-platform-changes-sweep": {
        "task": "core.dispatch_to_tenants",
        "schedule": 60.0,
        "args": ("bidding.sweep_platform_changes",),
        "options": {"expires": 60.0},
    },
    # Inventory breaker: open holds whose products are all back (a missed restock, a resume the policy
    # refused for a while) are released hourly.
    "bidding-inventory-holds-review": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(minute=37),
        "args": ("bidding.review_inventory_holds",),
    },
    "bidding-spend-fetch": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(minute=23),
        "args": ("bidding.fetch_spend_all",),
    },
    "stores-retention": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(hour=4, minute=15),
        "args": ("stores.apply_retention",),
    },
    # Governance: every workspace's audit chain verified nightly (the admin shows the latest check).
    "audit-nightly-verify": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(hour=1, minute=45),
        "args": ("governance.verify_audit_chain",),
    },
    # Governance: reservations past their expiry give their budget back; the budget counters are
    # reconciled with the ledger; approval requests nobody decided expire.
    "governance-expire-budget-reservations": {
        "task": "core.dispatch_to_tenants",
        "schedule": 60.0,
        "args": ("governance.expire_budget_reservations",),
        "options": {"expires": 55},
    },
    "governance-reconcile-budget": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(minute=23),
        "args": ("governance.reconcile_budget",),
    },
    "governance-expire-approvals": {
        "task": "core.dispatch_to_tenants",
        "schedule": crontab(minute=41),
        "args": ("governance.expire_approvals",),
    },
}
