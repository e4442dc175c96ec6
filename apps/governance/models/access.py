from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.fields import EncryptedTextField
from apps.governance.roles import ROLE_CHOICES, Role


class Capability(models.Model):
    """No table: carries the tenant-wide permissions that are not about one model."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("propose_action", "Propose automated or financial actions for approval"),
            ("approve_money_movement", "Approve actions that move money (invoices, refunds, spend)"),
            ("manage_credentials", "Connect stores and platforms, change credentials"),
            ("manage_policies", "Change policies, budgets and guardrails"),
            ("manage_contracts", "Change billing contracts"),
        ]


class ApiKey(models.Model):
    """An integration key, shown once at creation; only a SHA-256 of it is stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    role = models.CharField(max_length=20, choices=ROLE_CHOICES, default=Role.ANALYST)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(condition=Q(role__in=[r.value for r in Role]), name="apikey_role_valid"),
            models.CheckConstraint(condition=Q(key_hash__regex=r"^[0-9a-f]{64}$"), name="apikey_hash_sha256"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Secret(models.Model):
    """A named credential, encrypted at rest; the value never leaves through admin or API."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=40, default="generic")
    value = EncryptedTextField()
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReportRun(models.Model):
    """A report requested through the API/admin and computed by a Celery task in the tenant schema."""

    class Kind(models.TextChoices):
        ACCESS_REVIEW = "access_review", "Access review (users, roles, API keys)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker_schema = models.CharField(max_length=63, blank=True, help_text="Schema the task ran in (audit).")

    # What the admin and the API show of a run (both read-only).
    SHOWN_FIELDS = (
        "kind",
        "status",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "result",
        "error",
        "worker_schema",
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [("run_report", "Run reports")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
