"""POST /api/v1/ltv/score: batch LTV scoring of purchase histories for integrators."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.bidding.services import ltv_score, spend_micros
from apps.core.api.base import TenantAPIView

CENT = Decimal("0.01")


class PurchaseSerializer(serializers.Serializer):
    date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=Decimal(0))


class CustomerSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    purchases = serializers.ListField(child=PurchaseSerializer(), min_length=1, max_length=5000)


class ScoreRequestSerializer(serializers.Serializer):
    horizon_days = serializers.IntegerField(min_value=1, max_value=1095)
    as_of = serializers.DateField(
        required=False, help_text="Defaults to today (UTC); later purchases are ignored."
    )
    customers = serializers.ListField(child=CustomerSerializer(), min_length=1, max_length=1000)

    def validate(self, data: dict) -> dict:
        as_of = data.get("as_of") or timezone.now().date()
        ids = [c["id"] for c in data["customers"]]
        if len(set(ids)) != len(ids):
            raise serializers.ValidationError(
                {"customers": ["Customer ids must be unique within a request."]}
            )
        for c in data["customers"]:
            if not any(p["date"] <= as_of for p in c["purchases"]):
                raise serializers.ValidationError(
                    {"customers": [f"Customer {c['id']!r} has no purchase on or before {as_of}."]}
                )
        data["as_of"] = as_of
        return data


class ScoreSerializer(serializers.Serializer):
    id = serializers.CharField()
    expected_purchases = serializers.FloatField()
    expected_spend = serializers.DecimalField(max_digits=16, decimal_places=2)
    expected_spend_micros = serializers.IntegerField()
    spend_p10 = serializers.DecimalField(max_digits=16, decimal_places=2)
    spend_p90 = serializers.DecimalField(max_digits=16, decimal_places=2)
    model_version = serializers.CharField()
    fallback = serializers.BooleanField(
        help_text="True when the ml worker could not answer and BG/NBD+GG did."
    )


def money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class LtvScoreView(TenantAPIView):
    action_permissions = {"POST": "bidding.score_ltv"}

    @extend_schema(request=ScoreRequestSerializer, responses=ScoreSerializer(many=True))
    def post(self, request: Request) -> Response:
        data = ScoreRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        customers = [(c["id"], [(p["date"], p["amount"]) for p in c["purchases"]]) for c in v["customers"]]
        scores = ltv_score(
            customers=customers,
            as_of=v["as_of"],
            horizon_days=v["horizon_days"],
            actor=str(getattr(request.user, "username", "")),
        )
        body = [
            {
                "id": s.ref,
                "expected_purchases": round(s.prediction.purchases, 6),
                "expected_spend": str(money(s.prediction.spend)),
                "expected_spend_micros": spend_micros(s),
                "spend_p10": str(money(s.prediction.spend_low)),
                "spend_p90": str(money(s.prediction.spend_high)),
                "model_version": s.prediction.model_version,
                "fallback": s.prediction.fallback,
            }
            for s in scores
        ]
        return Response({"as_of": v["as_of"].isoformat(), "horizon_days": v["horizon_days"], "results": body})
