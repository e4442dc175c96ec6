"""The approval queue: automated actions above the policy's threshold wait here for a person.

Created only by ``action_authorize`` (the single door for automation); decided by an Admin (permission
``governance.approve_money_movement``) in the admin or the API, with a reason. The same pending action
proposed again (same kind, platform, campaign, amount) is the same request, not a new one.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.actor import ActorKind

_ACTOR_KINDS = [(k.value, k.value) for k in ActorKind]


class ApprovalRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    action = models.JSONField(help_text="The proposed action, as the check received it.")
    kind = models.CharField(max_length=20, editable=False)
    platform = models.CharField(max_length=20, editable=False)
    campaign_key = models.CharField(max_length=100, editable=False)
    amount_micros = models.BigIntegerField(null=True, blank=True, editable=False)
    fingerprint = models.CharField(max_length=64, editable=False)
    reserve = models.BooleanField(
        default=False, help_text="Reserve budget when approved (spend-type actions)."
    )
    reasons = models.JSONField(default=list, help_text="Why the check asked for a person.")
    policy_version = models.PositiveIntegerField()
    requested_by_kind = models.CharField(max_length=20, choices=_ACTOR_KINDS)
    requested_by_id = models.CharField(max_length=200)
    requested_by_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField()
    decided_by_kind = models.CharField(max_length=20, choices=_ACTOR_KINDS, blank=True)
    decided_by_id = models.CharField(max_length=200, blank=True)
    decided_by_name = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="The decider's reason.")
    reservation_id = models.UUIDField(null=True, blank=True, help_text="Budget reserved on approval.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "approval request"
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"], condition=Q(status="pending"), name="approval_one_pending_per_action"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected", "expired"]),
                name="approval_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="pending")
                | Q(status="expired")
                | (Q(decided_at__isnull=False) & ~Q(reason="")),
                name="approval_decision_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="approval_status_created_idx")]

    def __str__(self) -> str:
        amount = f" {self.amount_micros}µ" if self.amount_micros is not None else ""
        return f"#{self.pk} {self.kind}{amount} on {self.platform}:{self.campaign_key} ({self.status})"
