"""Ad platform accounts, campaigns and what automation does to them: bid decisions, the outbox of
changes sent to platforms, the spend ledger read from platform reports, and each account's breaker.

Money is integer micros in the campaign's currency. Who paused a campaign is recorded, because
automation (bidder, inventory breaker) never resumes a campaign a person paused.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.fields import EncryptedTextField


class Platform(models.TextChoices):
    GOOGLE_ADS = "google_ads", "Google Ads"
    META = "meta", "Meta Marketing API"
    TIKTOK = "tiktok", "TikTok Ads"
    LINKEDIN = "linkedin", "LinkedIn Ads"


class AdPlatformAccount(models.Model):
    """One advertiser account on one platform (Google customer id, Meta ad account, TikTok advertiser,
    LinkedIn sponsored account). ``credentials`` is JSON (tokens, developer token), encrypted at rest."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISCONNECTED = "disconnected", "Disconnected"
        ERROR = "error", "Error"

    platform = models.CharField(max_length=20, choices=Platform.choices)
    external_id = models.CharField(max_length=64, help_text="The account's id on the platform.")
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="USD")
    credentials = EncryptedTextField(blank=True, default="")
    credentials_expire_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["platform", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "external_id"], name="adaccount_platform_external_uniq"
            ),
            models.CheckConstraint(
                condition=Q(platform__in=[p.value for p in Platform]), name="adaccount_platform_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.name} ({self.external_id})"


class Campaign(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        REMOVED = "removed", "Removed"

    class PausedBy(models.TextChoices):
        NONE = "", "—"
        PERSON = "person", "A person (user or API key)"
        AUTOMATION = "automation", "Automation (bidder, pacing)"
        INVENTORY = "inventory", "Inventory breaker"

    class BidStrategy(models.TextChoices):
        MANUAL = "manual", "Manual bid"
        TARGET_ROAS = "target_roas", "Target ROAS"
        MAX_VALUE = "max_value", "Maximise conversion value"

    account = models.ForeignKey(AdPlatformAccount, on_delete=models.PROTECT, related_name="campaigns")
    external_id = models.CharField(max_length=64, help_text="The campaign's id on the platform.")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    paused_by = models.CharField(max_length=20, choices=PausedBy.choices, default=PausedBy.NONE, blank=True)
    paused_by_actor = models.CharField(max_length=200, blank=True, help_text="Actor label of who paused it.")
    paused_reason = models.CharField(max_length=300, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    daily_budget_micros = models.BigIntegerField()
    bid_strategy = models.CharField(
        max_length=20, choices=BidStrategy.choices, default=BidStrategy.TARGET_ROAS
    )
    bid_micros = models.BigIntegerField(null=True, blank=True, help_text="Current max bid (manual) or cap.")
    target_roas = models.DecimalField(max_digits=8, decimal_places=4, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], name="campaign_account_external_uniq"),
            models.CheckConstraint(condition=Q(daily_budget_micros__gte=0), name="campaign_budget_nonneg"),
            models.CheckConstraint(
                condition=Q(bid_micros__isnull=True) | Q(bid_micros__gte=0), name="campaign_bid_nonneg"
            ),
            models.CheckConstraint(
                condition=Q(target_roas__isnull=True) | Q(target_roas__gt=0), name="campaign_target_roas_pos"
            ),
            models.CheckConstraint(
                condition=Q(status="paused") | Q(paused_by=""), name="campaign_paused_by_only_when_paused"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account.platform}:{self.external_id})"

    @property
    def paused_by_person(self) -> bool:
        return self.status == self.Status.PAUSED and self.paused_by == self.PausedBy.PERSON


class CampaignProduct(models.Model):
    """A product a campaign promotes, named by its store and platform id (the inventory breaker's key)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="products")
    store_id = models.BigIntegerField(help_text="stores.StoreConnection id.")
    product_platform_id = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "store_id", "product_platform_id"], name="campaignproduct_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["store_id", "product_platform_id"], name="campaignproduct_product_idx")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} promotes {self.store_id}:{self.product_platform_id}"


class InventoryHold(models.Model):
    """A campaign the inventory breaker paused, with the bid and budget it had, so restock restores them."""

    class State(models.TextChoices):
        HELD = "held", "Paused for stock"
        RELEASED = "released", "Resumed on restock"
        ABANDONED = "abandoned", "Not resumed (a person paused or changed it)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="inventory_holds")
    store_id = models.BigIntegerField()
    product_platform_id = models.CharField(max_length=100)
    state = models.CharField(max_length=20, choices=State.choices, default=State.HELD)
    previous_bid_micros = models.BigIntegerField(null=True, blank=True)
    previous_daily_budget_micros = models.BigIntegerField()
    inventory_event_id = models.BigIntegerField(help_text="stores.InventoryEvent that tripped the breaker.")
    held_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-held_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign"], condition=Q(state="held"), name="inventoryhold_one_open_per_campaign"
            )
        ]

    def __str__(self) -> str:
        return f"hold {self.campaign_id} ({self.state})"


class BidDecision(models.Model):
    """One decision of the bidder, with its reasons; recorded in dry run too."""

    class Decision(models.TextChoices):
        ALLOW = "allow", "Allow"
        DENY = "deny", "Deny"
        NEEDS_APPROVAL = "needs_approval", "Needs approval"

    class LtvSource(models.TextChoices):
        STORED = "stored", "Stored nightly score"
        WORKER = "worker", "ml worker"
        FALLBACK = "fallback", "BG/NBD + Gamma-Gamma fallback"
        NONE = "none", "No customer (audience bid)"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="bid_decisions")
    created_at = models.DateTimeField(db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    audience = models.CharField(max_length=200, blank=True)
    predicted_ltv_micros = models.BigIntegerField(null=True, blank=True)
    ltv_source = models.CharField(max_length=20, choices=LtvSource.choices)
    ltv_model_version = models.CharField(max_length=100, blank=True)
    pacing_multiplier = models.DecimalField(max_digits=8, decimal_places=4)
    bid_micros = models.BigIntegerField()
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reasons = models.JSONField(default=list)
    policy_version = models.IntegerField(null=True, blank=True)
    dry_run = models.BooleanField()
    reservation_id = models.CharField(max_length=64, blank=True)
    batch_id = models.UUIDField(
        null=True, blank=True, editable=False, help_text="The bidder batch it came in."
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["campaign", "-created_at"], name="biddecision_campaign_time_idx"),
            models.Index(fields=["batch_id"], name="biddecision_batch_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.bid_micros}µ on {self.campaign_id}"


class PlatformChange(models.Model):
    """The outbox of changes sent to ad platforms (pause, resume, bid, budget): a Celery task takes its
    id and applies it through the adapter, behind the account's circuit breaker. Idempotent by ``key``."""

    class Kind(models.TextChoices):
        PAUSE = "pause", "Pause"
        RESUME = "resume", "Resume"
        SET_BID = "set_bid", "Set bid"
        SET_BUDGET = "set_budget", "Set daily budget"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        DRY_RUN = "dry_run", "Not sent (dry run)"
        CANCELLED = "cancelled", "Cancelled"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="platform_changes")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value_micros = models.BigIntegerField(null=True, blank=True)
    key = models.CharField(max_length=120, unique=True, help_text="Idempotency key of the change.")
    reason = models.CharField(max_length=300, blank=True)
    requested_by = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="platformchange_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.campaign_id} ({self.status})"


class SpendLedger(models.Model):
    """Spend and outcomes per campaign and day as the platform reports them; idempotent by report row."""

    account = models.ForeignKey(AdPlatformAccount, on_delete=models.PROTECT, related_name="spend_rows")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="spend_rows")
    day = models.DateField()
    report_row_key = models.CharField(max_length=200, help_text="The platform report row's identity.")
    spend_micros = models.BigIntegerField()
    impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    conversions = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    conversion_value_micros = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    fetched_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "campaign"]
        constraints = [
            models.UniqueConstraint(fields=["account", "report_row_key"], name="spendledger_report_row_uniq"),
            models.CheckConstraint(condition=Q(spend_micros__gte=0), name="spendledger_spend_nonneg"),
        ]
        indexes = [models.Index(fields=["campaign", "day"], name="spendledger_campaign_day_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day}: {self.spend_micros}µ"


class CircuitState(models.Model):
    """The database mirror of an account's circuit breaker (the live state is in Redis, shared by all
    workers); the admin and the metrics read this row."""

    class State(models.TextChoices):
        CLOSED = "closed", "Closed"
        OPEN = "open", "Open"
        HALF_OPEN = "half_open", "Half-open"

    account = models.OneToOneField(AdPlatformAccount, on_delete=models.CASCADE, related_name="circuit")
    state = models.CharField(max_length=20, choices=State.choices, default=State.CLOSED)
    failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.TextField(blank=True)
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.account_id}: {self.state}"
