"""Admin of the stores app. Every write goes through ``apps.stores.services``: stores are created by
``store_create``; orders of manual stores are entered (and refunded or cancelled) through
``orders_upsert``, like the API; customers are read-only (their aggregates and LTV are computed)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.admin import TenantOnlyAdmin
from apps.stores import services
from apps.stores.errors import StoresError
from apps.stores.models import Customer, Order, StoreConnection


class StoreCreateForm(forms.ModelForm):
    class Meta:
        model = StoreConnection
        fields = ["name", "currency"]
        help_texts = {"currency": "ISO 4217, e.g. USD. A manual store: orders come through the API or here."}


@admin.register(StoreConnection)
class StoreConnectionAdmin(TenantOnlyAdmin):
    list_display = ["name", "platform", "shop_domain", "currency", "status", "created_at"]
    list_filter = ["platform", "status"]
    search_fields = ["name", "shop_domain"]
    form = StoreCreateForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ["platform", "name", "shop_domain", "currency", "status", "created_at"]
        return []

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # connectors (a later issue) change stores; here they are created and viewed

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders and customers PROTECT their store

    def save_model(self, request: HttpRequest, obj: StoreConnection, form: Any, change: bool) -> None:
        created = services.store_create(
            name=obj.name, currency=obj.currency, actor=request.user.get_username()
        )
        obj.pk = created.pk


@admin.register(Customer)
class CustomerAdmin(TenantOnlyAdmin):
    list_display = [
        "platform_id",
        "email",
        "store",
        "orders_count",
        "total_spent",
        "predicted_ltv",
        "ltv_interval",
        "ltv_model_version",
        "ltv_scored_at",
        "ltv_fallback",
    ]
    list_filter = ["store", "ltv_fallback", "accepts_marketing"]
    list_select_related = ["store"]
    search_fields = ["email", "platform_id"]
    exclude = ["ltv_state"]
    readonly_fields = [
        *Customer.PROFILE_FIELDS,
        *Customer.AGGREGATE_FIELDS,
        *Customer.LTV_FIELDS,
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Customer]:
        return super().get_queryset(request).defer("ltv_state")

    @admin.display(description="p10–p90")
    def ltv_interval(self, obj: Customer) -> str:
        if obj.predicted_ltv_low is None or obj.predicted_ltv_high is None:
            return "–"
        return f"{obj.predicted_ltv_low} – {obj.predicted_ltv_high} {obj.store.currency}"

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # customers arrive with their orders

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders PROTECT their customer: anonymise, never delete


class OrderForm(forms.ModelForm):
    """One order of a manual store, saved through ``orders_upsert`` (customer named by its id)."""

    customer_platform_id = forms.CharField(max_length=100, required=False, help_text="Empty: a guest order.")
    customer_email = forms.EmailField(required=False)

    class Meta:
        model = Order
        fields = [
            "store",
            "platform_id",
            "number",
            "placed_at",
            "cancelled_at",
            "subtotal",
            "tax",
            "shipping",
            "discount",
            "total",
            "total_refunded",
            "financial_status",
            "fulfillment_status",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "store" in self.fields:
            self.fields["store"].queryset = StoreConnection.objects.filter(  # type: ignore[attr-defined]
                platform=StoreConnection.Platform.MANUAL, status=StoreConnection.Status.ACTIVE
            )
        if self.instance.pk and self.instance.customer_id:
            self.fields["customer_platform_id"].initial = self.instance.customer.platform_id  # type: ignore[union-attr]
            self.fields["customer_platform_id"].disabled = True
            self.fields["customer_email"].disabled = True

    def order_input(self) -> services.OrderInput:
        d = self.cleaned_data
        order = self.instance
        store = d.get("store") or order.store
        pid = d.get("customer_platform_id") or (order.customer.platform_id if order.customer_id else "")  # type: ignore[union-attr]
        customer = (
            services.CustomerInput(platform_id=pid, email=d.get("customer_email") or None) if pid else None
        )

        def value(name: str) -> Any:
            return d[name] if name in d else getattr(order, name)

        return services.OrderInput(
            platform_id=value("platform_id"),
            number=value("number") or "",
            placed_at=value("placed_at"),
            cancelled_at=value("cancelled_at"),
            currency=store.currency,
            subtotal=value("subtotal"),
            tax=value("tax"),
            shipping=value("shipping"),
            discount=value("discount"),
            total=value("total"),
            total_refunded=value("total_refunded"),
            financial_status=value("financial_status"),
            fulfillment_status=value("fulfillment_status"),
            customer=customer,
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        store = data.get("store") or self.instance.store
        try:
            services.orders_validate(store=store, orders=[self.order_input()])
        except StoresError as exc:
            item = exc.details.get("orders", {}).get("0", {})
            for field, messages in item.items():
                self.add_error(field if field in self.fields else None, messages)
            if not item:
                raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(Order)
class OrderAdmin(TenantOnlyAdmin):
    """Read-mostly: orders of connected stores come from their platform; a manual store's orders may
    be entered here, and refunded or cancelled later (same path as the API's upsert)."""

    list_display = [
        "number",
        "platform_id",
        "store",
        "customer",
        "placed_at",
        "total",
        "total_refunded",
        "cancelled_at",
        "financial_status",
        "fulfillment_status",
    ]
    list_filter = ["store", "financial_status", "fulfillment_status"]
    list_select_related = ["store", "customer"]
    search_fields = ["platform_id", "number"]
    date_hierarchy = "placed_at"
    form = OrderForm
    _MANUAL_EDITABLE = {
        "cancelled_at",
        "total_refunded",
        "financial_status",
        "fulfillment_status",
        "customer_email",
    }

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["created_at", "updated_at"]
        shown = [*OrderForm.Meta.fields, "customer", "currency", "created_at", "updated_at"]
        if obj.store.platform != StoreConnection.Platform.MANUAL:
            return shown
        return [f for f in shown if f not in self._MANUAL_EDITABLE]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [*OrderForm.Meta.fields, "customer_platform_id", "customer_email"]
        return [*OrderForm.Meta.fields, "customer", "currency", "created_at", "updated_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cancel instead: the order stays on record

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        store = obj.store
        services.orders_upsert(store=store, orders=[form.order_input()], actor=request.user.get_username())
        saved = Order.objects.get(store=store, platform_id=obj.platform_id)
        obj.pk = saved.pk
