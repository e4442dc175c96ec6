"""Spend ingestion: each account's platform report → ``SpendLedger``, one row per campaign and day.

``spend_fetch`` reads the report through the adapter, behind the account's circuit breaker, then
upserts the rows by ``(account, report_row_key)`` under a per-account lock: fetching a day again
updates its row (platforms revise recent days) and never adds one. The ``syncflow_spend_total``
counter grows by what the report added (new rows, and increases of revised rows), after commit, so a
re-fetch of the same figures adds nothing. A revision downwards lowers the ledger but cannot lower a
Prometheus counter; a later revision upwards then counts its increase again (the ledger is the truth,
the counter follows increases). Each new or revised row is also handed to governance's budget ledger
(``budget_spend_record``, idempotent by the same report key), so caps count actual spend.

Rows for campaigns KIKI does not know (made on the platform, never imported) are skipped and named in
the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.bidding.errors import BiddingError, ErrorCode
from apps.bidding.integrations.base import SpendRow
from apps.bidding.metrics import SPEND_TOTAL
from apps.bidding.models import AdPlatformAccount, Campaign, SpendLedger
from apps.bidding.services.circuits import breaker_call
from apps.bidding.services.platforms import ad_account_adapter
from apps.core.actor import Actor
from apps.core.locks import advisory_xact_lock
from apps.core.money import today_utc
from apps.core.tenant_context import require_tenant
from apps.governance import services as governance

logger = logging.getLogger(__name__)

SPEND_ACTOR = Actor.system("celery:bidding.fetch_spend")
MAX_SPAN_DAYS = 92
_FIELDS = (
    "day",
    "spend_micros",
    "impressions",
    "clicks",
    "conversions",
    "conversion_value_micros",
    "currency",
)


@dataclass(frozen=True)
class SpendFetchResult:
    account_id: int
    rows: int  # rows in the platform's report
    created: int
    updated: int
    unchanged: int
    added_micros: int  # what the report added to the ledger's spend (new rows and increases)
    unknown_campaigns: tuple[str, ...]


def _values(row: SpendRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _FIELDS}


def spend_fetch(*, account_id: int, day_from: date, day_to: date) -> SpendFetchResult:
    """Fetch ``account_id``'s spend report for ``day_from``..``day_to`` (both included) and upsert it.
    Raises ``PlatformError`` / ``CircuitOpen`` when the platform cannot be read (nothing is written)."""
    schema = require_tenant("fetching ad spend")
    if day_from > day_to:
        raise BiddingError(
            ErrorCode.VALIDATION, "day_from is after day_to.", details={"day_from": ["After day_to."]}
        )
    if (day_to - day_from).days >= MAX_SPAN_DAYS:
        raise BiddingError(
            ErrorCode.VALIDATION,
            f"Fetch at most {MAX_SPAN_DAYS} days at once.",
            details={"day_to": [f"At most {MAX_SPAN_DAYS} days after day_from."]},
        )
    account = AdPlatformAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise BiddingError(ErrorCode.NOT_FOUND, f"Ad platform account {account_id} does not exist.")
    adapter = ad_account_adapter(account)
    report = breaker_call(
        account=account, operation="fetch_spend", call=lambda: adapter.fetch_spend(day_from, day_to)
    )
    now = timezone.now()
    created = updated = unchanged = added = 0
    unknown: set[str] = set()
    with transaction.atomic():
        advisory_xact_lock(f"kiki:spend:{schema}:{account.pk}")  # one ingest of an account at a time
        campaigns = {c.external_id: c for c in Campaign.objects.filter(account=account)}
        keys = [row.report_row_key for row in report]
        existing = {
            r.report_row_key: r
            for r in SpendLedger.objects.select_for_update().filter(account=account, report_row_key__in=keys)
        }
        for row in report:
            campaign = campaigns.get(row.campaign_external_id)
            if campaign is None:
                unknown.add(row.campaign_external_id)
                continue
            values = _values(row)
            old = existing.get(row.report_row_key)
            if old is None:
                existing[row.report_row_key] = SpendLedger.objects.create(
                    account=account,
                    campaign=campaign,
                    report_row_key=row.report_row_key,
                    fetched_at=now,
                    **values,
                )
                created += 1
                added += row.spend_micros
            elif all(getattr(old, name) == value for name, value in values.items()):
                unchanged += 1
                continue
            else:
                added += max(0, row.spend_micros - old.spend_micros)
                for name, value in values.items():
                    setattr(old, name, value)
                old.fetched_at = now
                old.save(update_fields=[*_FIELDS, "fetched_at"])
                updated += 1
            # Actual spend counts against governance's caps (idempotent by the same report row).
            governance.budget_spend_record(
                report_key=row.report_row_key,
                platform=account.platform,
                campaign=str(campaign.pk),
                day=row.day,
                amount_micros=row.spend_micros,
                actor=SPEND_ACTOR,
            )
        platform = account.platform
        if added:
            transaction.on_commit(lambda: SPEND_TOTAL.labels(tenant=schema, platform=platform).inc(added))
    if unknown:
        logger.info(
            "spend report rows for unknown campaigns skipped",
            extra={"account_id": account.pk, "campaigns": sorted(unknown)[:20]},
        )
    return SpendFetchResult(
        account_id=account.pk,
        rows=len(report),
        created=created,
        updated=updated,
        unchanged=unchanged,
        added_micros=added,
        unknown_campaigns=tuple(sorted(unknown)),
    )


def spend_window(*, today: date | None = None) -> tuple[date, date]:
    """The days the periodic fetch reads: the last ``KIKI_SPEND_LOOKBACK_DAYS`` days up to today (UTC),
    as platforms keep revising recent days."""
    end = today or today_utc()
    return end - timedelta(days=max(0, int(settings.KIKI_SPEND_LOOKBACK_DAYS) - 1)), end


def spend_accounts_due() -> list[int]:
    """The accounts the periodic fetch reads: every active one of the workspace."""
    require_tenant("listing ad accounts")
    return list(
        AdPlatformAccount.objects.filter(status=AdPlatformAccount.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
