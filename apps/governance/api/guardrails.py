"""Governance API for automation's guardrails: the policy and its versions, the check, the approval queue.

- ``GET  /api/v1/governance/policy``                      the current policy (any principal that may view it)
- ``GET  /api/v1/governance/policy/versions[/<version>]`` its history
- ``POST /api/v1/governance/policy/versions``             a new version: changes + reason (``manage_policies``)
- ``POST /api/v1/governance/check``                       decide one action or a list; no side effects
- ``GET  /api/v1/governance/approvals[/<id>]``            the approval queue (``?status=pending``)
- ``POST /api/v1/governance/approvals/<id>/approve|reject`` with a reason (``approve_money_movement``)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.base import TenantAPIView, TenantViewSet, actor_of
from apps.governance import services
from apps.governance.errors import GovernanceError
from apps.governance.models import ALL_PLATFORMS, ApprovalRequest, Platform, PolicyVersion
from apps.governance.services.policy import (
    KINDS,
    MAX_CAMPAIGN_KEY,
    MAX_MICROS,
    MAX_REASON,
    MAX_ROAS,
    MONEY_KINDS,
)

MAX_CHECK_BATCH = 1000
# The one list of each choice set (serializers and the OpenAPI enums of SPECTACULAR_SETTINGS).
PLATFORM_CHOICES = Platform.choices
KIND_CHOICES = [(k.value, k.value) for k in KINDS]
DECISION_CHOICES = [(d.value, d.value) for d in services.Decision]


def _micros(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_MICROS, **kwargs)


# --- policy ------------------------------------------------------------------------------------------
class CapsSerializer(serializers.Serializer):
    daily = _micros(required=False, allow_null=True, help_text="Daily cap in micros; null: no cap.")
    monthly = _micros(required=False, allow_null=True, help_text="Monthly cap in micros; null: no cap.")

    def to_representation(self, instance: Any) -> dict[str, Any]:
        # An absent period falls back to the default cap; null is "no cap": both are kept as they are.
        return {k: instance[k] for k in ("daily", "monthly") if k in instance}


class AuthorSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.CharField()
    name = serializers.CharField()


class PolicyRulesSerializer(serializers.Serializer):
    max_bid_micros = _micros(allow_null=True)
    campaign_daily_cap_micros = _micros(allow_null=True)
    campaign_monthly_cap_micros = _micros(allow_null=True)
    campaign_caps = serializers.DictField(
        child=CapsSerializer(),
        help_text="Per-campaign overrides, keyed by the campaign's id or external id; an absent period "
        "falls back to the default cap.",
    )
    platform_caps = serializers.DictField(
        child=CapsSerializer(),
        help_text=f"Per-platform caps, keyed by platform ({', '.join(ALL_PLATFORMS)}).",
    )
    allowed_platforms = serializers.ListField(child=serializers.ChoiceField(choices=PLATFORM_CHOICES))
    min_roas = serializers.DecimalField(
        max_digits=10, decimal_places=4, min_value=Decimal(0), max_value=MAX_ROAS, allow_null=True
    )
    blackout_hours = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=23),
        max_length=24,
        help_text="Local hours (workspace time zone) with no automation; hour h blocks h:00 to h:59.",
    )
    approval_threshold_micros = _micros(allow_null=True)
    kill_switch = serializers.BooleanField()
    dry_run = serializers.BooleanField()


class PolicyVersionSerializer(PolicyRulesSerializer):
    version = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    author = serializers.SerializerMethodField()
    reason = serializers.CharField(read_only=True)

    @extend_schema_field(AuthorSerializer)
    def get_author(self, obj: PolicyVersion) -> dict[str, str]:
        return {"kind": obj.author_kind, "id": obj.author_id, "name": obj.author_name}


class PolicyChangeSerializer(PolicyRulesSerializer):
    """A new version: the fields to change (others are kept) and why."""

    reason = serializers.CharField(max_length=MAX_REASON, help_text="Why the policy changes (required).")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if name != "reason":
                field.required = False


# --- check ---------------------------------------------------------------------------------------------
class ActionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=KIND_CHOICES)
    platform = serializers.ChoiceField(choices=PLATFORM_CHOICES)
    campaign = serializers.CharField(
        max_length=MAX_CAMPAIGN_KEY,
        help_text="The campaign's id or external id (as the policy's caps name it).",
    )
    amount_micros = _micros(
        required=False,
        allow_null=True,
        help_text="The bid, the new budget or the spend (required for those).",
    )
    predicted_roas = serializers.DecimalField(
        max_digits=16,
        decimal_places=6,
        min_value=Decimal(0),
        max_value=MAX_ROAS,
        required=False,
        allow_null=True,
    )
    at = serializers.DateTimeField(required=False, help_text="When the action would happen (default: now).")
    paused_by_person = serializers.BooleanField(
        required=False, default=False, help_text="For resume: a person paused the campaign."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] in MONEY_KINDS and attrs.get("amount_micros") is None:
            raise ValidationError({"amount_micros": [f"A {attrs['kind']} needs amount_micros."]})
        return attrs

    def to_action(self) -> services.ProposedAction:
        data = {k: v for k, v in self.validated_data.items() if v is not None}
        return services.ProposedAction(**data)


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable: kill_switch, bid_above_max, …")
    message = serializers.CharField()


class CheckResultSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=DECISION_CHOICES)
    reasons = ReasonSerializer(many=True)
    policy_version = serializers.IntegerField()
    dry_run = serializers.BooleanField()


CHECK_REQUEST = PolymorphicProxySerializer(
    component_name="GovernanceCheckRequest",
    serializers=[ActionSerializer, ActionSerializer(many=True, min_length=1, max_length=MAX_CHECK_BATCH)],  # type: ignore[call-arg]
    resource_type_field_name=None,
    many=False,
)
CHECK_RESPONSE = PolymorphicProxySerializer(
    component_name="GovernanceCheckResponse",
    serializers=[CheckResultSerializer, CheckResultSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


def _actions(body: Any) -> tuple[list[services.ProposedAction], bool]:
    """The actions of a check request and whether it was a list; 400 naming each bad item."""
    many = isinstance(body, list)
    if not many and not isinstance(body, dict):
        raise ValidationError({"body": ["Send one action (an object) or a list of 1 to 1000 actions."]})
    items = body if many else [body]
    if not 1 <= len(items) <= MAX_CHECK_BATCH:
        raise ValidationError({"body": [f"Send 1 to {MAX_CHECK_BATCH} actions."]})
    actions: list[services.ProposedAction] = []
    errors: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors[str(i)] = {"non_field_errors": ["An action is an object."]}
            continue
        data = ActionSerializer(data=item)
        if not data.is_valid():
            errors[str(i)] = data.errors
            continue
        try:
            actions.append(data.to_action())
        except GovernanceError as exc:
            errors[str(i)] = exc.details or {"non_field_errors": [exc.message]}
    if errors:
        raise ValidationError(errors if many else next(iter(errors.values())))
    return actions, many


class CheckView(TenantAPIView):
    """Decide proposed actions against the current policy: no reservation, no approval request, nothing
    stored. Any principal that may read the policy may ask."""

    action_permissions = {"POST": "governance.view_policyversion"}

    @extend_schema(
        request=CHECK_REQUEST,
        responses={200: CHECK_RESPONSE},
        description="One action in, one result out; a list of 1 to 1000 in, a list of results out "
        "(in order). Reasons are machine-readable codes with a message; `dry_run` is the policy's flag.",
    )
    def post(self, request: Request) -> Response:
        actions, many = _actions(request.data)
        results = services.actions_check(actions=actions, actor=actor_of(request))
        body = [r.as_dict() for r in results]
        return Response(body if many else body[0])


class PolicyView(TenantAPIView):
    """The workspace's current policy (version 1, dry run on, is made the first time it is read)."""

    action_permissions = {"GET": "governance.view_policyversion"}

    @extend_schema(responses=PolicyVersionSerializer)
    def get(self, request: Request) -> Response:
        return Response(PolicyVersionSerializer(services.policy_current()).data)


class PolicyVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Every version of the policy, newest first. A new version is made from the current one with the
    fields given (Admins: ``manage_policies``); a version is never changed or deleted."""

    queryset = PolicyVersion.objects.order_by("-version")
    serializer_class = PolicyVersionSerializer
    lookup_field = "version"
    lookup_value_regex = r"[0-9]{1,9}"
    action_permissions = {"create": "governance.manage_policies"}

    @extend_schema(request=PolicyChangeSerializer, responses={201: PolicyVersionSerializer})
    def create(self, request: Request) -> Response:
        data = PolicyChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        reason = changes.pop("reason")
        for name in ("campaign_caps", "platform_caps"):
            if name in changes:
                changes[name] = {k: dict(v) for k, v in changes[name].items()}
        version = services.policy_update(actor=actor_of(request), reason=reason, changes=changes)
        return Response(PolicyVersionSerializer(version).data, status=status.HTTP_201_CREATED)


# --- approvals ----------------------------------------------------------------------------------------
class ApprovalSerializer(serializers.ModelSerializer):
    requested_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "status",
            "action",
            "kind",
            "platform",
            "campaign_key",
            "amount_micros",
            "reasons",
            "policy_version",
            "requested_by",
            "created_at",
            "expires_at",
            "decided_by",
            "decided_at",
            "reason",
            "reservation_id",
        ]
        read_only_fields = fields

    @extend_schema_field(AuthorSerializer)
    def get_requested_by(self, obj: ApprovalRequest) -> dict[str, str]:
        return {"kind": obj.requested_by_kind, "id": obj.requested_by_id, "name": obj.requested_by_name}

    @extend_schema_field(AuthorSerializer(allow_null=True))
    def get_decided_by(self, obj: ApprovalRequest) -> dict[str, str] | None:
        if not obj.decided_by_kind:
            return None
        return {"kind": obj.decided_by_kind, "id": obj.decided_by_id, "name": obj.decided_by_name}


class DecisionSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON, help_text="Why (required).")


class StatusFilter(BaseFilterBackend):
    """``?status=pending`` (or approved, rejected, expired)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        value = request.query_params.get("status")
        if value is None:
            return queryset
        if value not in ApprovalRequest.Status.values:
            raise ValidationError({"status": [f"One of {', '.join(ApprovalRequest.Status.values)}."]})
        return queryset.filter(status=value)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "status",
                "required": False,
                "in": "query",
                "schema": {"type": "string", "enum": list(ApprovalRequest.Status.values)},
            }
        ]


class ApprovalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Actions above the policy's approval threshold, waiting for a person. Approving re-checks the
    action against the current policy and reserves its budget; bidding carries it out."""

    queryset = ApprovalRequest.objects.order_by("-created_at", "-id")
    serializer_class = ApprovalSerializer
    filter_backends = [StatusFilter]
    action_permissions = {
        "approve": "governance.approve_money_movement",
        "reject": "governance.approve_money_movement",
    }

    @extend_schema(request=DecisionSerializer, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, approve=True)

    @extend_schema(request=DecisionSerializer, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, approve=False)

    def _decide(self, request: Request, *, approve: bool) -> Response:
        pending = self.get_object()
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decide = services.approval_approve if approve else services.approval_reject
        decided = decide(
            approval_id=pending.pk, reason=data.validated_data["reason"], actor=actor_of(request)
        )
        return Response(ApprovalSerializer(decided).data)
