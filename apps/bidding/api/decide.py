"""POST /api/v1/bidding/decide: many bid requests in, one decision each out (the batch path)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.bidding.services import MAX_BATCH, BidRequest, bids_decide
from apps.core.api.base import TenantAPIView, actor_of


class BidContextSerializer(serializers.Serializer):
    conversion_rate = serializers.DecimalField(
        max_digits=7, decimal_places=6, min_value=0, max_value=1, required=False,
        help_text="Probability the click converts (0–1, decimal string); default 1: bid the conversion's value.",
    )  # fmt: skip


class BidRequestSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField(min_value=1)
    customer_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    audience = serializers.CharField(max_length=200, required=False, allow_blank=True)
    context = BidContextSerializer(required=False)  # type: ignore[assignment]


class DecideRequestSerializer(serializers.Serializer):
    requests = BidRequestSerializer(many=True, allow_empty=False, max_length=MAX_BATCH)  # type: ignore[call-arg]


class BidLtvSerializer(serializers.Serializer):
    predicted_micros = serializers.IntegerField()
    low_micros = serializers.IntegerField()
    high_micros = serializers.IntegerField()
    source = serializers.ChoiceField(choices=["stored", "worker", "fallback", "none"])  # type: ignore[assignment]
    model_version = serializers.CharField()


class BidReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class BidOutcomeSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    customer_id = serializers.IntegerField(allow_null=True)
    decision = serializers.ChoiceField(choices=["allow", "deny", "needs_approval"])
    bid_micros = serializers.IntegerField()
    reasons = BidReasonSerializer(many=True)
    ltv = BidLtvSerializer()
    pacing_multiplier = serializers.FloatField()
    reservation_id = serializers.CharField(allow_null=True)
    policy_version = serializers.IntegerField()
    dry_run = serializers.BooleanField()


class DecideResponseSerializer(serializers.Serializer):
    decisions = BidOutcomeSerializer(many=True)


class BidDecideView(TenantAPIView):
    """Decide many bids at once from stored LTV, pacing, policy and budget; each decision is recorded.
    Nothing reaches an ad platform from here."""

    action_permissions = {"POST": "bidding.add_biddecision"}

    @extend_schema(request=DecideRequestSerializer, responses=DecideResponseSerializer)
    def post(self, request: Request) -> Response:
        data = DecideRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        requests = [
            BidRequest(
                campaign_id=r["campaign_id"],
                customer_id=r.get("customer_id"),
                audience=r.get("audience", ""),
                context=r.get("context") or {},
            )
            for r in data.validated_data["requests"]
        ]
        batch = bids_decide(requests=requests, actor=actor_of(request))
        return Response({"decisions": batch.as_dicts()})
