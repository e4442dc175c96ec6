"""The workspace's LTV model registry and training runs."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class BiddingCapability(models.Model):
    """No table: carries bidding permissions that are not about one model."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("score_ltv", "Score customer lifetime value")]


class LtvModel(models.Model):
    """One trained LTV artefact of this workspace and the decision taken on it.

    ``candidate_metrics``: the candidate's shipped (blended) figures on its own validation window,
    out of sample. ``current_metrics``: the model that was active then, evaluated on the SAME window
    (null when there was none). A candidate is promoted only when it beats those figures
    (``ml.ltv.train.should_promote``); at most one model is active per workspace.
    """

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        RETIRED = "retired", "Retired"

    version = models.CharField(max_length=64, unique=True, help_text="The artefact's model_version.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CANDIDATE)
    artefact = models.BinaryField(editable=False, help_text="ml.ltv.train.dumps bytes")
    metadata = models.JSONField(default=dict, help_text="The artefact's metadata (window, config, figures).")
    horizon_days = models.PositiveIntegerField()
    inner_horizon_days = models.PositiveIntegerField()
    data_first_day = models.DateField(help_text="First purchase day in the training data.")
    calibration_end = models.DateField(help_text="Last day of data the model saw.")
    validation_from = models.DateField(help_text="Validation window: inputs as of this day …")
    validation_to = models.DateField(help_text="… actual purchases up to this day.")
    customers_count = models.PositiveIntegerField(
        help_text="Customers with a purchase by the calibration end."
    )
    orders_count = models.PositiveIntegerField(help_text="Non-cancelled orders read for training.")
    candidate_metrics = models.JSONField(default=dict)
    current_metrics = models.JSONField(null=True, blank=True)
    compared_with = models.CharField(max_length=64, blank=True, help_text="Version active at the decision.")
    decision = models.TextField(blank=True)
    requested_by = models.CharField(max_length=200)
    trained_at = models.DateTimeField()
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    # Shown (read-only) in the admin and the API; never the artefact bytes.
    SHOWN_FIELDS = (
        "version",
        "status",
        "horizon_days",
        "inner_horizon_days",
        "data_first_day",
        "calibration_end",
        "validation_from",
        "validation_to",
        "customers_count",
        "orders_count",
        "candidate_metrics",
        "current_metrics",
        "compared_with",
        "decision",
        "requested_by",
        "trained_at",
        "promoted_at",
        "retired_at",
        "metadata",
    )

    class Meta:
        ordering = ["-trained_at", "-pk"]
        verbose_name = "LTV model"
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="ltvmodel_one_active"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["candidate", "active", "rejected", "retired"]),
                name="ltvmodel_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(promoted_at__isnull=False), name="ltvmodel_active_promoted"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.status})"


class LtvTrainingRun(models.Model):
    """A request to train: requested → running → done | failed. The task is idempotent on the run id
    (a finished run is never trained again); ``decision`` says what became of its model."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED)
    horizon_days = models.PositiveIntegerField()
    requested_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    model = models.ForeignKey(
        LtvModel, null=True, blank=True, on_delete=models.PROTECT, related_name="runs", editable=False
    )
    promoted = models.BooleanField(default=False)
    decision = models.TextField(blank=True)
    error = models.TextField(blank=True)

    SHOWN_FIELDS = (
        "status",
        "horizon_days",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
        "model",
        "promoted",
        "decision",
        "error",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "LTV training run"
        permissions = [("train_ltv", "Train LTV models (and promote the better one)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["requested", "running", "done", "failed"]), name="ltvrun_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(horizon_days__gte=30) & Q(horizon_days__lte=1095), name="ltvrun_horizon_range"
            ),
        ]

    def __str__(self) -> str:
        return f"LTV training #{self.pk} ({self.status})"
