from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.stores.models import ZERO, Baseline, Customer, Order, Product, StoreConnection, SyncRun, Variant
from apps.stores.services import MAX_ORDERS_PER_CALL


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal(0), **kwargs)


class StoreSerializer(serializers.ModelSerializer):
    """A store; its credentials never leave the server."""

    class Meta:
        model = StoreConnection
        fields = ["id", *StoreConnection.SHOWN_FIELDS]
        read_only_fields = fields


class StoreConnectSerializer(serializers.Serializer):
    """Shopify: the shop's myshopify.com domain; the answer is the install URL to open (Shopify asks
    the merchant, then calls us back). WooCommerce: the site's URL and either a REST key pair
    (read/write; connected at once) or no keys: the answer is the store's key-generation page to open
    (the store asks its manager, then sends us read/write keys). BigCommerce: nothing; the answer is
    the URL that installs our app for this workspace."""

    platform = serializers.ChoiceField(choices=["shopify", "woocommerce", "bigcommerce"])
    shop = serializers.CharField(max_length=255, required=False, help_text="Shopify: acme.myshopify.com")
    store_url = serializers.CharField(
        max_length=500, required=False, help_text="WooCommerce: https://shop.example.com"
    )
    consumer_key = serializers.CharField(max_length=200, required=False, write_only=True)
    consumer_secret = serializers.CharField(max_length=200, required=False, write_only=True)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        needed: tuple[str, ...] = {"shopify": ("shop",), "woocommerce": ("store_url",)}.get(
            data["platform"], ()
        )
        if data["platform"] == "woocommerce" and (data.get("consumer_key") or data.get("consumer_secret")):
            needed = ("store_url", "consumer_key", "consumer_secret")  # pasted keys: both of them
        missing = {name: ["Required for this platform."] for name in needed if not data.get(name)}
        if missing:
            raise serializers.ValidationError(missing)
        return data


class StoreConnectResultSerializer(serializers.Serializer):
    install_url = serializers.CharField(
        required=False,
        help_text="Shopify, BigCommerce, WooCommerce without keys: open it to approve KIKI's access.",
    )
    store = StoreSerializer(required=False, help_text="WooCommerce: the store, connecting.")


class SyncRunSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(
        read_only=True, allow_null=True, help_text="0–1 when the total is known."
    )

    class Meta:
        model = SyncRun
        fields = ["id", *SyncRun.SHOWN_FIELDS, "progress"]
        read_only_fields = fields


class SyncRequestSerializer(serializers.Serializer):
    resource = serializers.ChoiceField(
        choices=SyncRun.Resource.choices, required=False, help_text="Default: all, in order."
    )
    mode = serializers.ChoiceField(choices=SyncRun.Mode.choices, default=SyncRun.Mode.INCREMENTAL)


class BaselineSerializer(serializers.ModelSerializer):
    class Meta:
        model = Baseline
        fields = [
            "id",
            "store",
            "period_start",
            "period_end",
            "currency",
            "revenue",
            "gross_revenue",
            "refunds",
            "orders",
            "cancelled_orders",
            "average_order_value",
            "unique_customers",
            "repeat_customers",
            "repeat_customer_rate",
            "monthly",
            "computed_at",
        ]
        read_only_fields = fields


class VariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = ["id", "platform_id", "sku", "title", "price", "inventory_quantity", "in_stock", "deleted"]
        read_only_fields = fields


class ProductSerializer(serializers.ModelSerializer):
    variants = VariantSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = ["id", "store", "platform_id", "title", "url", "deleted", "platform_updated_at", "variants"]
        read_only_fields = fields


class StoreCreateSerializer(serializers.Serializer):
    """A manual store (orders arrive through this API or the admin). Shopify, WooCommerce and
    BigCommerce stores are connected by their connectors, not created here."""

    name = serializers.CharField(max_length=200)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", help_text="ISO 4217, e.g. USD.")


class CustomerSerializer(serializers.ModelSerializer):
    currency = serializers.CharField(source="store.currency", read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            *Customer.PROFILE_FIELDS,
            "currency",
            *Customer.AGGREGATE_FIELDS,
            *Customer.LTV_FIELDS,
        ]
        read_only_fields = fields


class OrderSerializer(serializers.ModelSerializer):
    net_value = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "store",
            "platform_id",
            *Order.UPSERT_FIELDS,
            "net_value",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CustomerInputSerializer(serializers.Serializer):
    """Fields left out keep their stored values."""

    platform_id = serializers.CharField(max_length=100)
    email = serializers.EmailField(required=False, allow_blank=True)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    accepts_marketing = serializers.BooleanField(required=False)
    acquisition_source = serializers.CharField(required=False, allow_blank=True, max_length=100)


class OrderItemInputSerializer(serializers.Serializer):
    platform_id = serializers.CharField(max_length=100)
    quantity = serializers.IntegerField(min_value=0, max_value=1_000_000, default=1)
    price = _money(help_text="Unit price.")
    discount = _money(required=False, default=ZERO, help_text="On the whole line.")
    sku = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    title = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RefundInputSerializer(serializers.Serializer):
    platform_id = serializers.CharField(max_length=100)
    amount = _money()
    refunded_at = serializers.DateTimeField()


class OrderInputSerializer(serializers.Serializer):
    platform_id = serializers.CharField(max_length=100)
    number = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    placed_at = serializers.DateTimeField(help_text="ISO 8601; without an offset it is read as UTC.")
    cancelled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    currency = serializers.CharField(
        min_length=3, max_length=3, required=False, help_text="Must be the store's currency (the default)."
    )
    subtotal = _money(required=False, default=ZERO)
    tax = _money(required=False, default=ZERO)
    shipping = _money(required=False, default=ZERO)
    discount = _money(required=False, default=ZERO)
    total = _money()
    total_refunded = _money(
        required=False, help_text="Defaults to the sum of `refunds` when they are sent, else 0."
    )
    financial_status = serializers.ChoiceField(
        choices=Order.FinancialStatus.choices, required=False, default=Order.FinancialStatus.PAID
    )
    fulfillment_status = serializers.ChoiceField(
        choices=Order.FulfillmentStatus.choices, required=False, default=Order.FulfillmentStatus.UNFULFILLED
    )
    customer = CustomerInputSerializer(required=False, allow_null=True, default=None)
    processed_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    landing_site = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="",
        help_text="The first page the shopper saw; UTM parameters and click ids are read from it.",
    )  # fmt: skip
    referrer = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    items = serializers.ListField(
        child=OrderItemInputSerializer(), required=False, max_length=500,
        help_text="The complete list of line items (left out: the stored ones are kept).",
    )  # fmt: skip
    refunds = serializers.ListField(
        child=RefundInputSerializer(), required=False, max_length=100,
        help_text="The complete list of refunds (left out: the stored ones are kept).",
    )  # fmt: skip

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        refunded = data.get("total_refunded")
        if refunded is None:
            refunded = sum((r["amount"] for r in data.get("refunds", [])), ZERO)
        if refunded > data["total"]:
            raise serializers.ValidationError({"total_refunded": ["Cannot exceed total."]})
        cancelled = data.get("cancelled_at")
        if cancelled is not None and cancelled < data["placed_at"]:
            raise serializers.ValidationError({"cancelled_at": ["Cannot be before placed_at."]})
        return data


class OrdersUpsertSerializer(serializers.Serializer):
    store = serializers.PrimaryKeyRelatedField(
        queryset=StoreConnection.objects.all(), help_text="Id of a store of this workspace."
    )
    orders = serializers.ListField(child=OrderInputSerializer(), min_length=1, max_length=MAX_ORDERS_PER_CALL)


class OrdersUpsertResultSerializer(serializers.Serializer):
    store = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    customers_created = serializers.IntegerField()
    customers_changed = serializers.IntegerField(help_text="Customers whose purchase history changed.")
