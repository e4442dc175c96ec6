"""Stores API: stores (an Admin creates a manual one), the bulk order upsert, customers with LTV."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import F, QuerySet
from django.db.models.expressions import OrderBy
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api.base import TenantViewSet, actor_of
from apps.core.api.pagination import int_param_schema, positive_int_param
from apps.stores import services
from apps.stores.api import serializers as s
from apps.stores.models import Customer, Order, Product, StoreConnection


class FieldFilter(BaseFilterBackend):
    """``?store=<id>`` (and ``?customer=<id>`` where the view allows it)."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        for name in getattr(view, "filter_fields", ()):
            value = positive_int_param(request, name)
            if value is not None:
                queryset = queryset.filter(**{f"{name}_id": value})
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {"name": n, "required": False, "in": "query", "schema": int_param_schema()}
            for n in getattr(view, "filter_fields", ())
        ]


def ordering_pattern(fields: tuple[str, ...]) -> str:
    """``?ordering=`` is one or more of ``fields``, each optionally prefixed by ``-``, comma-separated,
    nothing else: the schema's pattern and the server's check are this one expression."""
    term = f"-?(?:{'|'.join(map(re.escape, fields))})"
    return f"^{term}(?:,{term})*$"


class NullsLastOrdering(BaseFilterBackend):
    """``?ordering=-predicted_ltv,orders_count``: named fields only, rows without a value last."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        raw = request.query_params.get("ordering", view.default_ordering)
        allowed = view.ordering_fields
        if not re.fullmatch(ordering_pattern(allowed), raw):
            raise ValidationError(
                {"ordering": [f"Order by one or more of {', '.join(allowed)} (prefix - to reverse)."]}
            )
        terms: list[OrderBy] = []
        for part in raw.split(","):
            field = F(part.lstrip("-"))
            terms.append(field.desc(nulls_last=True) if part.startswith("-") else field.asc(nulls_last=True))
        return queryset.order_by(*terms, "pk")

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "ordering",
                "required": False,
                "in": "query",
                "description": f"One or more of {', '.join(view.ordering_fields)}, comma-separated, "
                f"each optionally prefixed by - to reverse; default {view.default_ordering}.",
                "schema": {"type": "string", "pattern": ordering_pattern(view.ordering_fields)},
            }
        ]


def _order_input(item: dict[str, Any]) -> services.OrderInput:
    customer = item.pop("customer", None)
    items = item.pop("items", None)
    refunds = item.pop("refunds", None)
    return services.OrderInput(
        **item,
        customer=services.CustomerInput(**customer) if customer else None,
        items=tuple(services.OrderItemInput(**i) for i in items) if items is not None else None,
        refunds=tuple(services.RefundInput(**r) for r in refunds) if refunds is not None else None,
    )


class StoreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Stores. An Admin creates a manual one, or connects a Shopify, WooCommerce or BigCommerce store; syncs and
    the 12-month baseline are read here, and an Admin re-runs a sync."""

    queryset = StoreConnection.objects.order_by("name", "pk")
    serializer_class = s.StoreSerializer
    action_permissions = {
        "connect": "stores.add_storeconnection",
        "syncs": "stores.view_syncrun",
        "sync": "stores.add_syncrun",
        "baseline": "stores.view_baseline",
    }

    @extend_schema(
        request=s.StoreConnectSerializer,
        responses={200: s.StoreConnectResultSerializer, 202: s.StoreConnectResultSerializer},
    )
    @action(detail=False, methods=["post"])
    def connect(self, request: Request) -> Response:
        data = s.StoreConnectSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if v["platform"] == "shopify":
            url = services.shopify_install_start(
                shop=v["shop"],
                redirect_uri=request.build_absolute_uri(reverse("shopify-callback")),
                actor=actor_of(request),
            )
            return Response({"install_url": url})
        if v["platform"] == "bigcommerce":
            return Response({"install_url": services.bigcommerce_install_start(actor=actor_of(request))})
        if not v.get("consumer_key"):
            url = services.woocommerce_authorize_start(
                store_url=v["store_url"],
                return_url=request.build_absolute_uri(reverse("woocommerce-return")),
                callback_url=request.build_absolute_uri(reverse("woocommerce-callback")),
                actor=actor_of(request),
            )
            return Response({"install_url": url})
        store = services.woocommerce_connect(
            store_url=v["store_url"],
            consumer_key=v["consumer_key"],
            consumer_secret=v["consumer_secret"],
            actor=actor_of(request),
        )
        return Response({"store": s.StoreSerializer(store).data}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.SyncRunSerializer(many=True))
    @action(detail=True, methods=["get"])
    def syncs(self, request: Request, pk: str | None = None) -> Response:
        """The store's sync runs, newest first (paginated like every list)."""
        store = self.get_object()
        page = self.paginate_queryset(store.sync_runs.order_by("-created_at", "-pk"))
        return self.get_paginated_response(s.SyncRunSerializer(page, many=True).data)

    @extend_schema(request=s.SyncRequestSerializer, responses={202: s.SyncRunSerializer(many=True)})
    @action(detail=True, methods=["post"])
    def sync(self, request: Request, pk: str | None = None) -> Response:
        """Run a sync now (Admins): one resource, or all in order; a run in flight is returned as is."""
        store = self.get_object()
        data = s.SyncRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        resources = [v["resource"]] if v.get("resource") else list(services.SYNC_RESOURCES)
        runs = [
            services.sync_request(store=store, resource=r, mode=v["mode"], actor=actor_of(request))
            for r in resources
        ]
        return Response(s.SyncRunSerializer(runs, many=True).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.BaselineSerializer)
    @action(detail=True, methods=["get"])
    def baseline(self, request: Request, pk: str | None = None) -> Response:
        """The store's current baseline (404 until the first one is computed)."""
        store = self.get_object()
        current = store.baselines.filter(is_current=True).first()
        if current is None:
            raise NotFound("No baseline yet: it is computed after the store's initial sync.")
        return Response(s.BaselineSerializer(current).data)

    @extend_schema(request=s.StoreCreateSerializer, responses={201: s.StoreSerializer})
    def create(self, request: Request) -> Response:
        data = s.StoreCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        store = services.store_create(actor=actor_of(request), **data.validated_data)
        return Response(s.StoreSerializer(store).data, status=status.HTTP_201_CREATED)


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Customers with their order aggregates and stored LTV (highest predicted LTV first)."""

    queryset = Customer.objects.select_related("store").defer("ltv_state")
    serializer_class = s.CustomerSerializer
    filter_backends = [FieldFilter, NullsLastOrdering]
    filter_fields = ("store",)
    ordering_fields = (
        "predicted_ltv",
        "last_order_at",
        "first_order_at",
        "total_spent",
        "orders_count",
        "id",
    )
    default_ordering = "-predicted_ltv"


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Orders (newest first). ``POST`` upserts up to 1000 orders of one store at once."""

    queryset = Order.objects.all()
    serializer_class = s.OrderSerializer
    filter_backends = [FieldFilter, NullsLastOrdering]
    filter_fields = ("store", "customer")
    ordering_fields = ("placed_at", "total", "id")
    default_ordering = "-placed_at"

    @extend_schema(request=s.OrdersUpsertSerializer, responses={200: s.OrdersUpsertResultSerializer})
    def create(self, request: Request) -> Response:
        data = s.OrdersUpsertSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        store = data.validated_data["store"]
        if store.is_connected:
            raise ValidationError(
                {"store": [f"Orders of {store.get_platform_display()} stores come from the platform's sync."]}
            )
        orders = [_order_input(item) for item in data.validated_data["orders"]]
        result = services.orders_upsert(store=store, orders=orders, actor=actor_of(request))
        body = {
            "store": store.pk,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "customers_created": result.customers_created,
            "customers_changed": len(result.changed_customer_ids),
        }
        return Response(body, status=status.HTTP_200_OK)


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Products with their variants and stock, as the stores' platforms report them."""

    queryset = Product.objects.prefetch_related("variants").order_by("title", "pk")
    serializer_class = s.ProductSerializer
    filter_backends = [FieldFilter]
    filter_fields = ("store",)
