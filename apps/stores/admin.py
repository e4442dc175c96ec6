"""Admin of the stores app. Every write goes through ``apps.stores.services``: stores are created by
``store_create``; orders of manual stores are entered (and refunded or cancelled) through
``orders_upsert``, like the API; customers are read-only (their aggregates and LTV are computed)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.actor import Actor
from apps.core.admin import ReadOnlyTenantAdmin, TenantOnlyAdmin
from apps.stores import services
from apps.stores.errors import StoresError
from apps.stores.models import (
    Customer,
    DataExport,
    InventoryEvent,
    Order,
    Product,
    StoreConnection,
    SyncRun,
    Variant,
    WebhookDelivery,
)


class StoreCreateForm(forms.ModelForm):
    class Meta:
        model = StoreConnection
        fields = ["name", "currency"]
        help_texts = {"currency": "ISO 4217, e.g. USD. A manual store: orders come through the API or here."}


def progress_bar(run: SyncRun | None) -> str:
    """A sync run's state as a person reads it: a bar when the total is known, the counts always."""
    if run is None:
        return "–"
    label = f"{run.get_state_display()} · {run.get_mode_display().lower()} {run.resource} · {run.pages} pages · {run.items} items"
    if run.error:
        label += f" · {run.error[:120]}"
    done = run.progress
    if done is None:
        return format_html('<span class="kiki-sync">{}</span>', label)
    return format_html(
        '<progress value="{}" max="100" style="width:140px"></progress> <span class="kiki-sync">{}</span>',
        round(done * 100),
        label,
    )


class SyncRunInline(admin.TabularInline):
    model = SyncRun
    fields = ("resource", "mode", "sync_progress", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at", "-pk"]
    verbose_name_plural = "sync runs (newest first)"

    @admin.display(description="progress")
    def sync_progress(self, obj: SyncRun) -> str:
        return progress_bar(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SyncRun]:
        return super().get_queryset(request).order_by("-created_at", "-pk")


class ConnectShopifyForm(forms.Form):
    shop = forms.CharField(label="Shop", help_text="acme.myshopify.com", max_length=255)


class ConnectWooCommerceAuthorizeForm(forms.Form):
    store_url = forms.CharField(label="Store URL", help_text="https://shop.example.com", max_length=500)


class ConnectWooCommerceForm(forms.Form):
    store_url = forms.CharField(label="Store URL", help_text="https://shop.example.com", max_length=500)
    consumer_key = forms.CharField(
        label="Consumer key", help_text="ck_… (WooCommerce → Settings → Advanced → REST API)"
    )
    consumer_secret = forms.CharField(label="Consumer secret", widget=forms.PasswordInput, help_text="cs_…")


@admin.register(StoreConnection)
class StoreConnectionAdmin(TenantOnlyAdmin):
    """Stores: a manual one is added here; Shopify and WooCommerce ones are connected from "Connect a
    store"; BigCommerce ones by installing our app from BigCommerce. Credentials are never shown."""

    list_display = ["name", "platform", "shop_domain", "currency", "status", "latest_sync", "last_sync_at"]
    list_filter = ["platform", "status"]
    search_fields = ["name", "shop_domain"]
    form = StoreCreateForm
    inlines = [SyncRunInline]
    actions = ["sync_incremental", "sync_full"]
    shown = [*StoreConnection.SHOWN_FIELDS, "baseline_summary"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.shown if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.shown if obj is not None else ["name", "currency"]

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.inlines if obj is not None and obj.is_connected else []

    @admin.display(description="latest sync")
    def latest_sync(self, obj: StoreConnection) -> str:
        return progress_bar(obj.sync_runs.order_by("-created_at", "-pk").first())

    @admin.display(description="baseline (12 months before KIKI)")
    def baseline_summary(self, obj: StoreConnection) -> str:
        current = obj.baselines.filter(is_current=True).first()
        if current is None:
            return "Not computed yet (after the initial sync)."
        return format_html(
            "{} – {}: revenue {} {} from {} orders (AOV {}), {} customers, repeat rate {}%",
            current.period_start.date(),
            current.period_end.date(),
            current.revenue,
            current.currency,
            current.orders,
            current.average_order_value,
            current.unique_customers,
            round(current.repeat_customer_rate * 100, 1),
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a store changes through its platform (connect, sync, webhooks), never by hand

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # orders and customers PROTECT their store

    def has_sync_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("stores.add_syncrun"))

    def _sync(self, request: HttpRequest, queryset: QuerySet[StoreConnection], mode: str) -> None:
        queued = 0
        for store in queryset.exclude(platform=StoreConnection.Platform.MANUAL):
            try:
                queued += len(
                    services.sync_store_all(store=store, mode=mode, actor=Actor.for_user(request.user))
                )
            except StoresError as exc:
                self.message_user(request, f"{store}: {exc.message}", messages.ERROR)
        self.message_user(
            request, f"{queued} sync run(s) queued; their progress shows on each store.", messages.SUCCESS
        )

    @admin.action(description="Sync now (changes since the last sync)", permissions=["sync"])
    def sync_incremental(self, request: HttpRequest, queryset: QuerySet[StoreConnection]) -> None:
        self._sync(request, queryset, SyncRun.Mode.INCREMENTAL)

    @admin.action(description="Full re-sync", permissions=["sync"])
    def sync_full(self, request: HttpRequest, queryset: QuerySet[StoreConnection]) -> None:
        self._sync(request, queryset, SyncRun.Mode.FULL)

    def save_model(self, request: HttpRequest, obj: StoreConnection, form: Any, change: bool) -> None:
        created = services.store_create(
            name=obj.name, currency=obj.currency, actor=Actor.for_user(request.user)
        )
        obj.pk = created.pk

    def get_urls(self) -> list[Any]:
        return [
            path(
                "connect/",
                self.admin_site.admin_view(self.connect_view),
                name="stores_storeconnection_connect",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        can = request.user.has_perm("stores.add_storeconnection")
        return super().changelist_view(request, {**(extra_context or {}), "can_connect": can})

    def connect_view(self, request: HttpRequest) -> HttpResponse:
        """Connect a store: Shopify (OAuth, Shopify asks the merchant), WooCommerce (the store generates
        a key pair once its manager approves, or a pasted key pair), BigCommerce (install our app)."""
        if not request.user.has_perm("stores.add_storeconnection"):
            raise PermissionDenied
        shopify = ConnectShopifyForm(
            request.POST if request.POST.get("platform") == "shopify" else None, prefix="shopify"
        )
        woo = ConnectWooCommerceForm(
            request.POST if request.POST.get("platform") == "woocommerce" else None, prefix="woo"
        )
        woo_authorize = ConnectWooCommerceAuthorizeForm(
            request.POST if request.POST.get("platform") == "woocommerce-authorize" else None,
            prefix="wooauth",
        )
        if request.method == "POST" and woo_authorize.is_bound and woo_authorize.is_valid():
            return HttpResponseRedirect(
                f"{reverse('woocommerce-authorize')}?{urlencode({'store_url': woo_authorize.cleaned_data['store_url']})}"
            )
        if request.method == "POST" and shopify.is_bound and shopify.is_valid():
            return HttpResponseRedirect(
                f"{reverse('shopify-install')}?{urlencode({'shop': shopify.cleaned_data['shop']})}"
            )
        if request.method == "POST" and woo.is_bound and woo.is_valid():
            try:
                store = services.woocommerce_connect(actor=Actor.for_user(request.user), **woo.cleaned_data)
            except StoresError as exc:
                for field, problems in exc.details.items():
                    woo.add_error(field if field in woo.fields else None, problems)
                if not exc.details:
                    woo.add_error(None, exc.message)
            else:
                self.message_user(
                    request, "Keys stored; the store syncs in the background.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:stores_storeconnection_change", args=[store.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Connect a store",
            "opts": self.model._meta,
            "shopify": shopify,
            "woo": woo,
            "woo_authorize": woo_authorize,
            "bigcommerce_install": reverse("bigcommerce-install"),
            "bigcommerce_auth": request.build_absolute_uri(reverse("bigcommerce-auth")),
            "bigcommerce_uninstall": request.build_absolute_uri(reverse("bigcommerce-uninstall")),
        }
        return TemplateResponse(request, "admin/stores/storeconnection/connect.html", context)


@admin.register(SyncRun)
class SyncRunAdmin(TenantOnlyAdmin):
    list_display = [
        "id",
        "store",
        "resource",
        "mode",
        "sync_progress",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["state", "resource", "mode", "store"]
    list_select_related = ["store"]
    readonly_fields = [*SyncRun.SHOWN_FIELDS, "sync_progress"]

    @admin.display(description="progress")
    def sync_progress(self, obj: SyncRun) -> str:
        return progress_bar(obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # a run is requested from its store (action) or the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantOnlyAdmin):
    """Verified deliveries (Admins only: their bodies are the platform's data, personal data included).
    A failed one shows its error; "Replay" processes it again."""

    list_display = ["received_at", "store", "topic", "delivery_id", "status", "attempts", "error_short"]
    list_filter = ["status", "platform", "topic", "store"]
    list_select_related = ["store"]
    search_fields = ["delivery_id", "topic"]
    readonly_fields = [
        "store",
        "platform",
        "topic",
        "delivery_id",
        "status",
        "attempts",
        "error",
        "received_at",
        "processed_at",
        "headers",
        "body",
    ]
    exclude = ["raw_body", "signature_valid"]
    actions = ["replay"]

    @admin.display(description="error")
    def error_short(self, obj: WebhookDelivery) -> str:
        return obj.error[:120]

    @admin.display(description="body")
    def body(self, obj: WebhookDelivery) -> str:
        return bytes(obj.raw_body)[:20000].decode("utf-8", "replace")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retention removes them after 90 days

    @admin.action(description="Replay the selected failed deliveries", permissions=["change"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        replayed = 0
        for delivery in queryset.filter(status=WebhookDelivery.Status.FAILED):
            services.webhook_replay(delivery=delivery, actor=Actor.for_user(request.user))
            replayed += 1
        self.message_user(request, f"{replayed} failed delivery(ies) queued again.", messages.SUCCESS)


class VariantInline(admin.TabularInline):
    model = Variant
    fields = ("sku", "title", "price", "inventory_quantity", "in_stock", "deleted")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(Product)
class ProductAdmin(ReadOnlyTenantAdmin):
    """Read-only: products come from the platform."""

    list_display = ["title", "store", "platform_id", "variants_in_stock", "deleted", "platform_updated_at"]
    list_filter = ["store", "deleted"]
    search_fields = ["title", "platform_id", "variants__sku"]
    readonly_fields = ["store", "platform_id", "title", "url", "deleted", "platform_updated_at"]
    inlines = [VariantInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_queryset(request).select_related("store").prefetch_related("variants")

    @admin.display(description="variants in stock")
    def variants_in_stock(self, obj: Product) -> str:
        variants = list(obj.variants.all())
        return f"{sum(v.in_stock for v in variants)} / {len(variants)}"


@admin.register(InventoryEvent)
class InventoryEventAdmin(ReadOnlyTenantAdmin):
    list_display = ["occurred_at", "variant", "in_stock", "previous_quantity", "new_quantity", "source"]
    list_filter = ["in_stock", "source"]
    list_select_related = ["variant"]
    readonly_fields = ["variant", "in_stock", "previous_quantity", "new_quantity", "source", "occurred_at"]


@admin.register(DataExport)
class DataExportAdmin(TenantOnlyAdmin):
    """A customer's data for a GDPR request (Admins only); download it to answer the request."""

    list_display = ["created_at", "store", "customer_platform_id", "request_reference", "download"]
    readonly_fields = ["store", "customer_platform_id", "request_reference", "created_at", "download"]
    exclude = ["data"]

    @admin.display(description="file")
    def download(self, obj: DataExport) -> str:
        url = reverse("admin:stores_dataexport_download", args=[obj.pk])
        return format_html('<a href="{}">Download JSON</a>', url)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="stores_dataexport_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        export = DataExport.objects.get(pk=pk)
        response = JsonResponse(export.data, json_dumps_params={"indent": 2})
        response["Content-Disposition"] = (
            f'attachment; filename="customer-{export.customer_platform_id}-data.json"'
        )
        return response

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
        services.orders_upsert(store=store, orders=[form.order_input()], actor=Actor.for_user(request.user))
        saved = Order.objects.get(store=store, platform_id=obj.platform_id)
        obj.pk = saved.pk
