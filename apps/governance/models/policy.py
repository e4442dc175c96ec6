"""A workspace's automation policy: one immutable ``PolicyVersion`` per change.

The current policy is the highest version. Nothing updates or deletes a version (a trigger of
migration 0003 refuses both); a change is a new version with its author and a reason. A workspace
that has never set a policy gets version 1 (dry run on, no caps) the first time one is read
(``apps.governance.services.policy.policy_current``).

Money is integer micros; ``None`` means "no limit". Blackout hours are local hours (0–23) of the
workspace's time zone (``Tenant.timezone``); an hour ``h`` blocks ``h:00:00`` up to ``h:59:59.999999``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from apps.core.actor import ActorKind


class Platform(models.TextChoices):
    GOOGLE_ADS = "google_ads", "Google Ads"
    META = "meta", "Meta Marketing API"
    TIKTOK = "tiktok", "TikTok Ads"
    LINKEDIN = "linkedin", "LinkedIn Ads"


ALL_PLATFORMS: tuple[str, ...] = tuple(p.value for p in Platform)


def _all_platforms() -> list[str]:
    return list(ALL_PLATFORMS)


class PolicyVersion(models.Model):
    class AuthorKind(models.TextChoices):
        USER = ActorKind.USER.value, "User"
        API_KEY = ActorKind.API_KEY.value, "API key"
        SYSTEM = ActorKind.SYSTEM.value, "System"

    version = models.PositiveIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(editable=False, db_index=True)
    author_kind = models.CharField(max_length=20, choices=AuthorKind.choices, editable=False)
    author_id = models.CharField(max_length=200, editable=False)
    author_name = models.CharField(max_length=200, editable=False)
    reason = models.TextField(help_text="Why this change was made (required).")

    max_bid_micros = models.BigIntegerField(null=True, blank=True, help_text="Highest bid; empty: no max.")
    campaign_daily_cap_micros = models.BigIntegerField(
        null=True, blank=True, help_text="Default daily spend cap of each campaign; empty: none."
    )
    campaign_monthly_cap_micros = models.BigIntegerField(
        null=True, blank=True, help_text="Default monthly spend cap of each campaign; empty: none."
    )
    campaign_caps = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per-campaign overrides: {"<campaign id or external id>": {"daily": micros|null, '
        '"monthly": micros|null}}. A key that is absent falls back to the default; null: no cap.',
    )
    platform_caps = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per-platform caps: {"meta": {"daily": micros|null, "monthly": micros|null}}.',
    )
    allowed_platforms = models.JSONField(default=_all_platforms, blank=True)
    min_roas = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Minimum predicted ROAS; empty: none.",
    )
    blackout_hours = models.JSONField(
        default=list, blank=True, help_text="Local hours (0–23, workspace time zone) with no automation."
    )
    approval_threshold_micros = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="A bid, budget change or spend above this waits for a person; empty: never.",
    )
    kill_switch = models.BooleanField(default=False, help_text="Stops every automated action but pauses.")
    dry_run = models.BooleanField(
        default=True, help_text="Decisions are computed and recorded; nothing reaches an ad platform."
    )

    # The policy's own fields (what a version sets), in display order.
    RULE_FIELDS = (
        "max_bid_micros",
        "campaign_daily_cap_micros",
        "campaign_monthly_cap_micros",
        "campaign_caps",
        "platform_caps",
        "allowed_platforms",
        "min_roas",
        "blackout_hours",
        "approval_threshold_micros",
        "kill_switch",
        "dry_run",
    )

    class Meta:
        ordering = ["-version"]
        get_latest_by = "version"
        verbose_name = "policy version"
        constraints = [
            models.CheckConstraint(condition=Q(version__gte=1), name="policyversion_version_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="policyversion_reason_required"),
            models.CheckConstraint(
                condition=Q(author_kind__in=[k.value for k in ActorKind]),
                name="policyversion_author_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(max_bid_micros__isnull=True) | Q(max_bid_micros__gte=0),
                name="policyversion_max_bid_nonneg",
            ),
            models.CheckConstraint(
                condition=Q(campaign_daily_cap_micros__isnull=True) | Q(campaign_daily_cap_micros__gte=0),
                name="policyversion_daily_cap_nonneg",
            ),
            models.CheckConstraint(
                condition=Q(campaign_monthly_cap_micros__isnull=True) | Q(campaign_monthly_cap_micros__gte=0),
                name="policyversion_monthly_cap_nonneg",
            ),
            models.CheckConstraint(
                condition=Q(min_roas__isnull=True) | Q(min_roas__gte=0), name="policyversion_min_roas_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(approval_threshold_micros__isnull=True) | Q(approval_threshold_micros__gte=0),
                name="policyversion_threshold_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"policy v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("a policy version is immutable; create a new version instead")
        super().save(*args, **kwargs)

    def rules(self) -> dict[str, Any]:
        """The version's rule fields as plain values (what a new version copies and the audit records)."""
        return {name: getattr(self, name) for name in self.RULE_FIELDS}
