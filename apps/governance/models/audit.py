"""The tamper-evident audit trail: one insert-only, hash-chained ``AuditEntry`` table per workspace.

Each tenant schema holds its own table, so each workspace has exactly one chain (sequence 1..n, no
gaps). A database trigger (migration 0002) refuses UPDATE, DELETE and TRUNCATE; the hash chain
(``apps.governance.chain``) makes any change made around the trigger detectable. ``AuditChainCheck``
records each verification of the chain; the latest one is what the admin shows.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.actor import ActorKind

HASH_REGEX = r"^[0-9a-f]{64}$"


class AuditEntry(models.Model):
    """One recorded action. Written only by ``audit_record``; never updated or deleted."""

    class ActorKindChoice(models.TextChoices):
        USER = ActorKind.USER.value, "User"
        API_KEY = ActorKind.API_KEY.value, "API key"
        SYSTEM = ActorKind.SYSTEM.value, "System"

    sequence = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False, db_index=True)
    actor_kind = models.CharField(max_length=20, choices=ActorKindChoice.choices, editable=False)
    actor_id = models.CharField(max_length=200, editable=False)
    actor_name = models.CharField(max_length=200, editable=False)
    action = models.CharField(max_length=100, editable=False, db_index=True)
    object_type = models.CharField(max_length=100, editable=False)
    object_id = models.CharField(max_length=200, blank=True, editable=False)
    before = models.JSONField(null=True, blank=True, editable=False)
    after = models.JSONField(null=True, blank=True, editable=False)
    request_id = models.CharField(max_length=200, blank=True, editable=False)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-sequence"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit entries"
        constraints = [
            models.CheckConstraint(condition=Q(sequence__gte=1), name="auditentry_sequence_positive"),
            models.CheckConstraint(condition=Q(hash__regex=HASH_REGEX), name="auditentry_hash_sha256"),
            models.CheckConstraint(
                condition=Q(prev_hash__regex=HASH_REGEX), name="auditentry_prev_hash_sha256"
            ),
            models.CheckConstraint(
                condition=Q(actor_kind__in=[k.value for k in ActorKind]), name="auditentry_actor_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["object_type", "object_id"], name="auditentry_object_idx")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_kind}:{self.actor_name}"


class AuditChainCheck(models.Model):
    """The outcome of one verification of this workspace's chain (command, nightly task or admin)."""

    checked_at = models.DateTimeField(db_index=True)
    ok = models.BooleanField()
    entries = models.PositiveBigIntegerField(help_text="Entries that verified before the walk stopped.")
    head_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the last verified entry.")
    first_bad_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    checked_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]
        get_latest_by = ["checked_at", "id"]
        verbose_name = "audit chain check"

    def __str__(self) -> str:
        state = "ok" if self.ok else f"BROKEN at #{self.first_bad_sequence}"
        return f"{self.checked_at:%Y-%m-%d %H:%M:%S} {state} ({self.entries} entries)"
