"""The budget ledger: the source of truth behind the Redis budget counters.

One row per reservation (state reserved → committed, released or expired) and one per spend
report row (``source=report``, idempotent by ``report_key``). What a row counts against the caps of
its campaign and platform for its period: a reserved row its ``amount_micros``, a committed one its
``actual_micros``, a released or expired one nothing.

Periods are the workspace's local calendar day and month (``Tenant.timezone``), like ad platforms'
daily budgets: ``day`` is the local date of the reservation's time and ``month`` the first day of
that date's month. They are stored, so a later change of time zone never moves spend between days.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q


class BudgetLedgerEntry(models.Model):
    class Source(models.TextChoices):
        RESERVATION = "reservation", "Reservation"
        REPORT = "report", "Platform spend report"

    class State(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        COMMITTED = "committed", "Committed (actual spend)"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.RESERVATION)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RESERVED)
    platform = models.CharField(max_length=20)
    campaign_key = models.CharField(max_length=100)
    day = models.DateField(help_text="Local date (workspace time zone) the spend counts against.")
    month = models.DateField(help_text="First day of the local month the spend counts against.")
    amount_micros = models.BigIntegerField(help_text="Reserved (or reported) amount.")
    actual_micros = models.BigIntegerField(null=True, blank=True, help_text="Actual spend once committed.")
    report_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    policy_version = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "budget ledger entry"
        verbose_name_plural = "budget ledger"
        constraints = [
            models.CheckConstraint(condition=Q(amount_micros__gte=0), name="budgetledger_amount_nonneg"),
            models.CheckConstraint(
                condition=Q(actual_micros__isnull=True)
                | (Q(actual_micros__gte=0) & Q(actual_micros__lte=F("amount_micros"))),
                name="budgetledger_actual_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(state="committed") | Q(actual_micros__isnull=False),
                name="budgetledger_committed_has_actual",
            ),
            models.CheckConstraint(
                condition=~Q(source="report") | (Q(state="committed") & Q(report_key__isnull=False)),
                name="budgetledger_report_committed_keyed",
            ),
            models.CheckConstraint(
                condition=Q(source__in=["reservation", "report"]), name="budgetledger_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["reserved", "committed", "released", "expired"]),
                name="budgetledger_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["day", "campaign_key"], name="budget_day_campaign_idx"),
            models.Index(fields=["month", "platform"], name="budget_month_platform_idx"),
            models.Index(fields=["expires_at"], condition=Q(state="reserved"), name="budget_open_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.amount_micros}µ {self.platform}:{self.campaign_key} {self.day} ({self.state})"

    @property
    def counted_micros(self) -> int:
        """What this row counts against the caps now."""
        if self.state == self.State.RESERVED:
            return self.amount_micros
        if self.state == self.State.COMMITTED:
            return self.actual_micros or 0
        return 0
