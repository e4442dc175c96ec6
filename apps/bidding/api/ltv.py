"""The LTV API: POST /api/v1/ltv/score (batch scoring of purchase histories or of stored customers),
the workspace's model registry (GET /api/v1/ltv/models, POST /api/v1/ltv/models/train) and training
runs (GET /api/v1/ltv/runs/{id})."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.bidding.ltv import LtvScore, ltv_score_spend_micros
from apps.bidding.models import LtvModel, LtvTrainingRun
from apps.bidding.services import (
    HORIZON_RANGE,
    ltv_score_customers_fast_path,
    ltv_score_posted_histories,
    ltv_training_request,
)
from apps.core.api.base import TenantAPIView, TenantViewSet, actor_of
from apps.core.money import float_to_money, today_utc


class PurchaseSerializer(serializers.Serializer):
    date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=Decimal(0))


class CustomerSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    purchases = serializers.ListField(child=PurchaseSerializer(), min_length=1, max_length=5000)


class ScoreRequestSerializer(serializers.Serializer):
    """Either ``customers`` (purchase histories you send) or ``customer_ids`` (customers stored in this
    workspace, scored from their order aggregates and stored model state: the bid-time fast path)."""

    horizon_days = serializers.IntegerField(min_value=1, max_value=1095)
    as_of = serializers.DateField(
        required=False, help_text="Defaults to today (UTC); later purchases are ignored."
    )
    customers = serializers.ListField(
        child=CustomerSerializer(), min_length=1, max_length=1000, required=False
    )
    customer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000, required=False
    )

    def validate(self, data: dict) -> dict:
        as_of = data.get("as_of") or today_utc()
        if ("customers" in data) == ("customer_ids" in data):
            raise serializers.ValidationError(
                {"customers": ["Send either customers (histories) or customer_ids (stored customers)."]}
            )
        if "customer_ids" in data:
            if len(set(data["customer_ids"])) != len(data["customer_ids"]):
                raise serializers.ValidationError({"customer_ids": ["Customer ids must be unique."]})
            data["as_of"] = as_of
            return data
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


def _score_body(ref: str, s: LtvScore) -> dict:
    return {
        "id": ref,
        "expected_purchases": round(s.prediction.purchases, 6),
        "expected_spend": str(float_to_money(s.prediction.spend)),
        "expected_spend_micros": ltv_score_spend_micros(s),
        "spend_p10": str(float_to_money(min(s.prediction.spend_low, s.prediction.spend))),
        "spend_p90": str(float_to_money(max(s.prediction.spend_high, s.prediction.spend))),
        "model_version": s.prediction.model_version,
        "fallback": s.prediction.fallback,
    }


class LtvScoreView(TenantAPIView):
    action_permissions = {"POST": "bidding.score_ltv"}

    @extend_schema(request=ScoreRequestSerializer, responses=ScoreSerializer(many=True))
    def post(self, request: Request) -> Response:
        data = ScoreRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "customer_ids" in v:
            stored = ltv_score_customers_fast_path(
                customer_ids=v["customer_ids"],
                as_of=v["as_of"],
                horizon_days=v["horizon_days"],
                actor=actor_of(request),
            )
            body = [_score_body(str(s.customer_id), s.score) for s in stored]
        else:
            customers = [
                (c["id"], [(p["date"], p["amount"]) for p in c["purchases"]]) for c in v["customers"]
            ]
            scores = ltv_score_posted_histories(
                customers=customers,
                as_of=v["as_of"],
                horizon_days=v["horizon_days"],
                actor=actor_of(request),
            )
            body = [_score_body(s.ref, s) for s in scores]
        return Response({"as_of": v["as_of"].isoformat(), "horizon_days": v["horizon_days"], "results": body})


class LtvModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = LtvModel
        fields = ["id", *LtvModel.SHOWN_FIELDS]
        read_only_fields = fields


class LtvTrainingRunSerializer(serializers.ModelSerializer):
    model_version = serializers.CharField(
        source="model.version", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = LtvTrainingRun
        fields = ["id", *LtvTrainingRun.SHOWN_FIELDS, "model_version"]
        read_only_fields = fields


class TrainRequestSerializer(serializers.Serializer):
    horizon_days = serializers.IntegerField(
        min_value=HORIZON_RANGE[0],
        max_value=HORIZON_RANGE[1],
        required=False,
        help_text=f"Prediction horizon; default KIKI_LTV_HORIZON_DAYS ({settings.KIKI_LTV_HORIZON_DAYS}).",
    )


class LtvModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The workspace's LTV models (newest first) with their figures and the promotion decision."""

    queryset = LtvModel.objects.defer("artefact").order_by("-trained_at", "-pk")
    serializer_class = LtvModelSerializer
    action_permissions = {"train": "bidding.train_ltv"}

    @extend_schema(request=TrainRequestSerializer, responses={202: LtvTrainingRunSerializer})
    @action(detail=False, methods=["post"])
    def train(self, request: Request) -> Response:
        """Train a model on this workspace's orders in the background (Admins); poll the run."""
        data = TrainRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = ltv_training_request(
            actor=actor_of(request), horizon_days=data.validated_data.get("horizon_days")
        )
        return Response(LtvTrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class LtvTrainingRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    queryset = (
        LtvTrainingRun.objects.select_related("model").defer("model__artefact").order_by("-created_at", "-pk")
    )
    serializer_class = LtvTrainingRunSerializer
