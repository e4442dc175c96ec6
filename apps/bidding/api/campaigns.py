"""The campaigns API, under /api/v1/bidding/:

- ``ad-accounts`` list, retrieve, create (Admins); ``POST ad-accounts/{id}/rotate-credentials``.
  Credentials go in, never out.
- ``campaigns`` list (``?account= &platform= &status= &paused_by=``), retrieve, create (register);
  ``POST campaigns/{id}/pause|resume|bid|budget`` with a reason → 202 with the queued change or the
  approval request; 403 ``policy_denied`` with governance's reasons when the policy refuses;
  ``POST campaigns/{id}/products`` replaces the promoted products.
- ``bid-decisions`` (``?campaign= &decision= &dry_run= &day_from= &day_to=``),
  ``platform-changes`` (``?campaign= &status= &kind=``) and ``spend``
  (``?campaign= &account= &day_from= &day_to=``): read-only.

Reads need the model's ``view_*`` permission (Admins and Analysts); writes ``add_*`` / ``change_*``
(Admins, Admin API keys). Every write calls one service of ``apps.bidding.services``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.response import Response

from apps.bidding import services
from apps.bidding.api import campaign_serializers as s
from apps.bidding.models import (
    AdPlatformAccount,
    BidDecision,
    Campaign,
    Platform,
    PlatformChange,
    SpendLedger,
)
from apps.core.api.base import TenantViewSet, actor_of
from apps.core.api.pagination import int_param_schema, positive_int_param

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True)
class QueryFilter:
    """One ``?name=`` filter: ``kind`` is ``id`` (a row id), ``choice`` (one of ``choices``), ``bool``
    (``true``/``false``) or ``day`` (YYYY-MM-DD); ``lookup`` the queryset lookup it becomes."""

    name: str
    lookup: str
    kind: str
    choices: tuple[str, ...] = ()
    description: str = ""

    def parse(self, request: Request) -> Any:
        if self.kind == "id":
            return positive_int_param(request, self.name)
        raw = request.query_params.get(self.name)
        if raw is None:
            return None
        if self.kind == "choice":
            if raw not in self.choices:
                raise ValidationError({self.name: [f"One of {', '.join(self.choices)}."]})
            return raw
        if self.kind == "bool":
            if raw not in _BOOLEANS:
                raise ValidationError({self.name: ["true or false."]})
            return _BOOLEANS[raw]
        try:
            if not _DAY.fullmatch(raw):
                raise ValueError(raw)
            return date.fromisoformat(raw)
        except ValueError:
            raise ValidationError({self.name: ["A date, YYYY-MM-DD."]}) from None

    def schema(self) -> dict[str, Any]:
        if self.kind == "id":
            body: dict[str, Any] = int_param_schema()
        elif self.kind == "choice":
            body = {"type": "string", "enum": list(self.choices)}
        elif self.kind == "bool":
            body = {"type": "string", "enum": ["true", "false"]}
        else:
            body = {"type": "string", "format": "date", "pattern": f"^{_DAY.pattern}$"}
        param = {"name": self.name, "required": False, "in": "query", "schema": body}
        if self.description:
            param["description"] = self.description
        return param


class QueryFilters(BaseFilterBackend):
    """The view's ``query_filters``, each checked (400 naming a bad one) and applied."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        for f in view.query_filters:
            value = f.parse(request)
            if value is not None:
                queryset = queryset.filter(**{f.lookup: value})
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [f.schema() for f in view.query_filters]


def _id(name: str, lookup: str | None = None) -> QueryFilter:
    return QueryFilter(name, lookup or f"{name}_id", "id")


def _choice(name: str, lookup: str, choices: Any) -> QueryFilter:
    return QueryFilter(name, lookup, "choice", tuple(choices.values))


def _days(lookup: str, what: str) -> tuple[QueryFilter, QueryFilter]:
    return (
        QueryFilter("day_from", f"{lookup}__gte", "day", description=f"{what} on or after this day (UTC)."),
        QueryFilter("day_to", f"{lookup}__lte", "day", description=f"{what} on or before this day (UTC)."),
    )


# --- ad accounts ---------------------------------------------------------------------------------
class AdAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Ad platform accounts. Admins connect one with its credentials and rotate them; nobody reads
    them back (answers name the credentials an account holds, never their values)."""

    queryset = AdPlatformAccount.objects.select_related("circuit").order_by("platform", "name", "pk")
    serializer_class = s.AdAccountSerializer
    filter_backends = [QueryFilters]
    query_filters = (
        _choice("platform", "platform", Platform),
        _choice("status", "status", AdPlatformAccount.Status),
    )
    action_permissions = {"rotate_credentials": "bidding.change_adplatformaccount"}

    @extend_schema(request=s.AdAccountCreateSerializer, responses={201: s.AdAccountSerializer})
    def create(self, request: Request) -> Response:
        data = s.AdAccountCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        account = services.ad_account_connect(
            platform=v["platform"],
            external_id=v["external_id"],
            name=v["name"],
            currency=v["currency"],
            credentials=dict(v["credentials"]),
            actor=actor_of(request),
        )
        return Response(self._read(account.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RotateCredentialsSerializer, responses={200: s.AdAccountSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-credentials")
    def rotate_credentials(self, request: Request, pk: str | None = None) -> Response:
        """Replace the account's credentials (all at once); an account in error is active again."""
        account = self.get_object()
        data = s.RotateCredentialsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.ad_account_set_credentials(
            account=account, credentials=dict(data.validated_data["credentials"]), actor=actor_of(request)
        )
        return Response(self._read(account.pk))

    def _read(self, pk: int) -> dict[str, Any]:
        return dict(s.AdAccountSerializer(self.get_queryset().get(pk=pk)).data)


# --- campaigns -----------------------------------------------------------------------------------
class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Campaigns KIKI manages. Admins register one (the values it holds on its platform) and act on
    it: pause, resume, set the max bid or the daily budget, each with a reason. Every action goes
    through the workspace's policy first: allowed, it is queued for the platform (202 with the
    change; in dry run the change is recorded and not sent); above the approval threshold it waits
    for an Admin (202 with the approval request); refused, 403 ``policy_denied`` with the reasons."""

    queryset = (
        Campaign.objects.select_related("account", "account__circuit")
        .prefetch_related("products")
        .order_by("account__platform", "name", "pk")
    )
    serializer_class = s.CampaignSerializer
    filter_backends = [QueryFilters]
    query_filters = (
        _id("account"),
        _choice("platform", "account__platform", Platform),
        _choice("status", "status", Campaign.Status),
        QueryFilter(
            "paused_by",
            "paused_by",
            "choice",
            tuple(v for v in Campaign.PausedBy.values if v),
            description="Who paused it: person, automation or inventory.",
        ),
    )
    action_permissions = {
        "pause": "bidding.change_campaign",
        "resume": "bidding.change_campaign",
        "bid": "bidding.change_campaign",
        "budget": "bidding.change_campaign",
        "products": "bidding.change_campaign",
    }

    @extend_schema(request=s.CampaignCreateSerializer, responses={201: s.CampaignSerializer})
    def create(self, request: Request) -> Response:
        data = s.CampaignCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        account = AdPlatformAccount.objects.filter(pk=v["account"]).first()
        if account is None:
            raise ValidationError({"account": ["No such ad account in this workspace."]})
        campaign = services.campaign_register(
            account=account,
            external_id=v["external_id"],
            name=v["name"],
            daily_budget_micros=v["daily_budget_micros"],
            bid_strategy=v["bid_strategy"],
            bid_micros=v.get("bid_micros"),
            target_roas=v.get("target_roas"),
            promoted_products=_products(v.get("promoted_products", [])),
            actor=actor_of(request),
        )
        return Response(self._read(campaign.pk), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ProductsSerializer, responses={200: s.CampaignSerializer})
    @action(detail=True, methods=["post"])
    def products(self, request: Request, pk: str | None = None) -> Response:
        """Replace the products the campaign promotes (the inventory breaker's keys)."""
        campaign = self.get_object()
        data = s.ProductsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.campaign_set_products(
            campaign=campaign,
            promoted_products=_products(data.validated_data["promoted_products"]),
            actor=actor_of(request),
        )
        return Response(self._read(campaign.pk))

    @extend_schema(request=s.ReasonSerializer, responses={202: s.CampaignActionSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        """Pause the campaign (always allowed: it only lowers spend). Recorded as a person's pause,
        which automation never undoes."""
        campaign = self.get_object()
        v = self._body(s.ReasonSerializer, request)
        return _accepted(
            services.campaign_pause(campaign=campaign, reason=v["reason"], actor=actor_of(request))
        )

    @extend_schema(request=s.ReasonSerializer, responses={202: s.CampaignActionSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Resume the campaign (an API key may not resume what a person paused)."""
        campaign = self.get_object()
        v = self._body(s.ReasonSerializer, request)
        return _accepted(
            services.campaign_resume(campaign=campaign, reason=v["reason"], actor=actor_of(request))
        )

    @extend_schema(request=s.BidChangeSerializer, responses={202: s.CampaignActionSerializer})
    @action(detail=True, methods=["post"])
    def bid(self, request: Request, pk: str | None = None) -> Response:
        """Set the campaign's max bid: refused above the policy's max bid, an approval request above
        its approval threshold."""
        campaign = self.get_object()
        v = self._body(s.BidChangeSerializer, request)
        result = services.campaign_set_bid(
            campaign=campaign, bid_micros=v["bid_micros"], reason=v["reason"], actor=actor_of(request)
        )
        return _accepted(result)

    @extend_schema(request=s.BudgetChangeSerializer, responses={202: s.CampaignActionSerializer})
    @action(detail=True, methods=["post"])
    def budget(self, request: Request, pk: str | None = None) -> Response:
        """Set the campaign's daily budget: an approval request above the approval threshold."""
        campaign = self.get_object()
        v = self._body(s.BudgetChangeSerializer, request)
        result = services.campaign_set_budget(
            campaign=campaign,
            daily_budget_micros=v["daily_budget_micros"],
            reason=v["reason"],
            actor=actor_of(request),
        )
        return _accepted(result)

    @staticmethod
    def _body(serializer: type[Any], request: Request) -> dict[str, Any]:
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    def _read(self, pk: int) -> dict[str, Any]:
        return dict(s.CampaignSerializer(self.get_queryset().get(pk=pk)).data)


def _products(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(row["store"], row["product_platform_id"]) for row in rows]


def _accepted(result: services.CampaignActionResult) -> Response:
    return Response(s.action_body(result), status=status.HTTP_202_ACCEPTED)


# --- read-only records ---------------------------------------------------------------------------
class BidDecisionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The bidder's decisions with their reasons, newest first (recorded in dry run too)."""

    queryset = BidDecision.objects.order_by("-created_at", "-pk")
    serializer_class = s.BidDecisionSerializer
    filter_backends = [QueryFilters]
    query_filters = (
        _id("campaign"),
        _choice("decision", "decision", BidDecision.Decision),
        QueryFilter("dry_run", "dry_run", "bool", description="Only dry-run decisions (true) or live ones."),
        *_days("created_at__date", "Decided"),
    )


class PlatformChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """The outbox of changes sent to the platforms (by people and automation), newest first."""

    queryset = PlatformChange.objects.order_by("-created_at", "-pk")
    serializer_class = s.PlatformChangeSerializer
    filter_backends = [QueryFilters]
    query_filters = (
        _id("campaign"),
        _choice("status", "status", PlatformChange.Status),
        _choice("kind", "kind", PlatformChange.Kind),
    )


class SpendViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Spend per campaign and day as the platforms report it, newest day first."""

    queryset = SpendLedger.objects.order_by("-day", "campaign_id", "pk")
    serializer_class = s.SpendSerializer
    filter_backends = [QueryFilters]
    query_filters = (_id("campaign"), _id("account"), *_days("day", "Spent"))
