"""Serializers of the campaigns API (apps.bidding.api.campaigns). Money is integer micros in the
account's currency; ROAS and other ratios are decimal strings. Credentials are write-only: no answer
carries them, only the names of the ones an account holds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.bidding import services
from apps.bidding.models import (
    AdPlatformAccount,
    BidDecision,
    Campaign,
    CircuitState,
    Platform,
    PlatformChange,
    SpendLedger,
)
from apps.bidding.services.campaigns import MAX_PRODUCT_ID, MAX_PRODUCTS, MAX_ROAS
from apps.bidding.services.platforms import MAX_REASON, MAX_VALUE_MICROS
from apps.core.api.pagination import ID_MAX

OUTCOME_CHOICES = [("queued", "queued"), ("needs_approval", "needs_approval")]
ACTION_DECISION_CHOICES = [("allow", "allow"), ("needs_approval", "needs_approval")]


def micros_field(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_VALUE_MICROS, **kwargs)


def breaker_state_of(account: AdPlatformAccount) -> str:
    """The account's breaker as last mirrored (no row yet: it never tripped, closed)."""
    try:
        return str(account.circuit.state)
    except CircuitState.DoesNotExist:
        return CircuitState.State.CLOSED.value


# --- ad accounts ---------------------------------------------------------------------------------
class AdAccountSerializer(serializers.ModelSerializer):
    """An ad platform account; its credentials never leave the server (only their names)."""

    credential_keys = serializers.SerializerMethodField(
        help_text="Names of the credentials the account holds (never their values)."
    )
    breaker_state = serializers.SerializerMethodField(help_text="The account's circuit breaker.")

    class Meta:
        model = AdPlatformAccount
        fields = [
            "id",
            "platform",
            "external_id",
            "name",
            "currency",
            "status",
            "last_error",
            "credential_keys",
            "credentials_expire_at",
            "breaker_state",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_credential_keys(self, obj: AdPlatformAccount) -> list[str]:
        return services.credential_keys(obj)

    @extend_schema_field(serializers.ChoiceField(choices=CircuitState.State.choices))
    def get_breaker_state(self, obj: AdPlatformAccount) -> str:
        return breaker_state_of(obj)


class CredentialsSerializer(serializers.Serializer):
    """What the platform's adapter reads: an access token everywhere; Google Ads also a developer
    token, and a manager (login) customer id when the account is reached through one."""

    access_token = serializers.CharField(max_length=4096, write_only=True, trim_whitespace=False)
    developer_token = serializers.CharField(
        max_length=4096, write_only=True, required=False, trim_whitespace=False, help_text="Google Ads."
    )
    login_customer_id = serializers.CharField(
        max_length=12, write_only=True, required=False, help_text="Google Ads: 123-456-7890."
    )


class AdAccountCreateSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=Platform.choices)
    external_id = serializers.CharField(
        max_length=64,
        help_text="The account's id on the platform: Google customer id (123-456-7890), Meta ad account "
        "(act_123), TikTok advertiser id, LinkedIn sponsored account (123).",
    )
    name = serializers.CharField(max_length=200)
    currency = serializers.CharField(
        min_length=3, max_length=3, default="USD", help_text="ISO 4217, e.g. USD."
    )
    credentials = CredentialsSerializer()


class RotateCredentialsSerializer(serializers.Serializer):
    credentials = CredentialsSerializer(help_text="The new credentials; they replace all the old ones.")


# --- campaigns -----------------------------------------------------------------------------------
class ProductRefSerializer(serializers.Serializer):
    store = serializers.IntegerField(min_value=1, max_value=ID_MAX, help_text="A store of this workspace.")
    product_platform_id = serializers.CharField(
        max_length=MAX_PRODUCT_ID, help_text="The product's id on the store's platform."
    )


def products_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=ProductRefSerializer(),
        max_length=MAX_PRODUCTS,
        help_text="Products the campaign promotes: the inventory breaker pauses it when one runs out.",
        **kwargs,
    )


class CampaignSerializer(serializers.ModelSerializer):
    platform = serializers.CharField(source="account.platform", read_only=True)
    currency = serializers.CharField(source="account.currency", read_only=True)
    promoted_products = serializers.SerializerMethodField()
    breaker_state = serializers.SerializerMethodField(help_text="The account's circuit breaker.")

    class Meta:
        model = Campaign
        fields = [
            "id",
            "account",
            "platform",
            "currency",
            "external_id",
            "name",
            "status",
            "paused_by",
            "paused_by_actor",
            "paused_reason",
            "paused_at",
            "daily_budget_micros",
            "bid_strategy",
            "bid_micros",
            "target_roas",
            "promoted_products",
            "breaker_state",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ProductRefSerializer(many=True))
    def get_promoted_products(self, obj: Campaign) -> list[dict[str, Any]]:
        rows = sorted((p.store_id, p.product_platform_id) for p in obj.products.all())
        return [{"store": s, "product_platform_id": p} for s, p in rows]

    @extend_schema_field(serializers.ChoiceField(choices=CircuitState.State.choices))
    def get_breaker_state(self, obj: Campaign) -> str:
        return breaker_state_of(obj.account)


class CampaignCreateSerializer(serializers.Serializer):
    """Register a campaign that exists on the account's platform, with the values it holds there."""

    account = serializers.IntegerField(min_value=1, max_value=ID_MAX, help_text="An ad account's id.")
    external_id = serializers.CharField(max_length=64, help_text="The campaign's id on the platform.")
    name = serializers.CharField(max_length=200)
    daily_budget_micros = micros_field()
    bid_strategy = serializers.ChoiceField(choices=Campaign.BidStrategy.choices)
    bid_micros = micros_field(required=False, allow_null=True, help_text="Required for manual bids.")
    target_roas = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        max_value=MAX_ROAS,
        required=False,
        allow_null=True,
        help_text='Required for target_roas, e.g. "3.5" (350 %).',
    )
    promoted_products = products_field(required=False)


class ProductsSerializer(serializers.Serializer):
    promoted_products = products_field()


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON, help_text="Why (kept with the change and audited).")


class BidChangeSerializer(ReasonSerializer):
    bid_micros = micros_field(help_text="The new max bid, in micros of the account's currency.")


class BudgetChangeSerializer(ReasonSerializer):
    daily_budget_micros = micros_field(help_text="The new daily budget, in micros of the account's currency.")


# --- what automation and people did -----------------------------------------------------------------
class PlatformChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlatformChange
        fields = [
            "id",
            "campaign",
            "kind",
            "value_micros",
            "status",
            "reason",
            "requested_by",
            "attempts",
            "last_error",
            "key",
            "created_at",
            "sent_at",
            "next_attempt_at",
        ]
        read_only_fields = fields


class PolicyReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: above_approval_threshold, bid_above_max, …")
    message = serializers.CharField()


class ApprovalRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="The request in the governance API (approve or reject it there).")


class CampaignActionSerializer(serializers.Serializer):
    """A person's action, accepted: ``queued`` (``change`` is sent by a worker; in dry run it is
    recorded and not sent) or ``needs_approval`` (``approval`` waits for an Admin; approving it queues
    the change)."""

    outcome = serializers.ChoiceField(choices=OUTCOME_CHOICES)
    campaign = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=PlatformChange.Kind.choices)
    decision = serializers.ChoiceField(choices=ACTION_DECISION_CHOICES)
    reasons = PolicyReasonSerializer(many=True)
    policy_version = serializers.IntegerField()
    dry_run = serializers.BooleanField()
    change = PlatformChangeSerializer(allow_null=True)
    approval = ApprovalRefSerializer(allow_null=True)


def action_body(result: services.CampaignActionResult) -> dict[str, Any]:
    approval = None
    if result.approval_id is not None:
        try:
            url = reverse("approval-detail", args=[result.approval_id])
        except NoReverseMatch:
            url = f"/api/v1/governance/approvals/{result.approval_id}"
        approval = {"id": result.approval_id, "url": url}
    return {
        "outcome": result.outcome,
        "campaign": result.campaign_id,
        "kind": result.kind,
        "decision": result.decision,
        "reasons": [dict(r) for r in result.reasons],
        "policy_version": result.policy_version,
        "dry_run": result.dry_run,
        "change": PlatformChangeSerializer(result.change).data if result.change is not None else None,
        "approval": approval,
    }


class BidDecisionSerializer(serializers.ModelSerializer):
    reasons = serializers.JSONField(read_only=True, help_text="Why: the bidder's and the policy's reasons.")

    class Meta:
        model = BidDecision
        fields = [
            "id",
            "campaign",
            "created_at",
            "request_id",
            "customer_id",
            "audience",
            "predicted_ltv_micros",
            "ltv_source",
            "ltv_model_version",
            "pacing_multiplier",
            "bid_micros",
            "decision",
            "reasons",
            "policy_version",
            "dry_run",
            "reservation_id",
        ]
        read_only_fields = fields


class SpendSerializer(serializers.ModelSerializer):
    class Meta:
        model = SpendLedger
        fields = [
            "id",
            "account",
            "campaign",
            "day",
            "report_row_key",
            "spend_micros",
            "impressions",
            "clicks",
            "conversions",
            "conversion_value_micros",
            "currency",
            "fetched_at",
        ]
        read_only_fields = fields
