"""Models of the stores app (tenant schema): the minimal core of stores, customers and orders.

The connectors issue extends these (credentials, sync cursors, webhooks, products, order items); the
LTV side only needs what is here. Every row is written by ``apps.stores.services``.

Net order value (what LTV learns from and what ``Customer.total_spent`` sums):
``Order.total − Order.total_refunded``, in the store's currency, over orders that are not cancelled
(``cancelled_at`` is null). A cancelled order counts for nothing; a refund lowers the order's net
value (a full refund makes it 0 but it is still a purchase occasion).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

ZERO = Decimal("0.00")


def _money(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=14, decimal_places=2, **kwargs)  # type: ignore[arg-type]


class StoreConnection(models.Model):
    """A store this workspace sells through. ``manual`` = orders sent through our API or the admin."""

    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        WOOCOMMERCE = "woocommerce", "WooCommerce"
        BIGCOMMERCE = "bigcommerce", "BigCommerce"
        MANUAL = "manual", "Manual (API / admin)"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISCONNECTED = "disconnected", "Disconnected"

    platform = models.CharField(max_length=20, choices=Platform.choices)
    name = models.CharField(max_length=200)
    shop_domain = models.CharField(max_length=255, blank=True, help_text="e.g. acme.myshopify.com")
    currency = models.CharField(max_length=3, help_text="ISO 4217; every amount of this store is in it.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "store"
        constraints = [
            models.CheckConstraint(
                condition=Q(platform__in=["shopify", "woocommerce", "bigcommerce", "manual"]),
                name="store_platform_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "disconnected"]), name="store_status_valid"
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="store_currency_iso"),
            # The same shop connected twice would count every order twice.
            models.UniqueConstraint(
                fields=["platform", "shop_domain"], condition=~Q(shop_domain=""), name="store_unique_shop"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"


class Customer(models.Model):
    """A store's customer. Name and email are PII: never logged.

    Order aggregates (``first_order_at`` … ``total_spent``) are recomputed from the orders by
    ``orders_upsert`` on every change, over non-cancelled orders and net values (module docstring).
    LTV fields are written by ``customer_set_ltv`` (bidding's scoring): money in the store's currency.
    """

    store = models.ForeignKey(StoreConnection, on_delete=models.PROTECT, related_name="customers")
    platform_id = models.CharField(max_length=100, help_text="The customer's id on the store's platform.")
    email = models.EmailField(blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    accepts_marketing = models.BooleanField(default=False)
    acquisition_source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Order aggregates (non-cancelled orders, net values).
    first_order_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_order_at = models.DateTimeField(null=True, blank=True, editable=False)
    orders_count = models.PositiveIntegerField(default=0, editable=False)
    total_spent = _money(default=ZERO, editable=False)
    first_order_value = _money(
        default=ZERO,
        editable=False,
        help_text="Net value of the first purchase day (the model's first_value).",
    )

    # Predicted lifetime value over ``ltv_horizon_days`` from ``ltv_state_as_of``.
    predicted_ltv = _money(null=True, blank=True, editable=False)
    predicted_ltv_low = _money(null=True, blank=True, editable=False, help_text="10th percentile")
    predicted_ltv_high = _money(null=True, blank=True, editable=False, help_text="90th percentile")
    predicted_purchases = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, editable=False,
        help_text="Expected number of purchases in the horizon (Decimal, 4 places).",
    )  # fmt: skip
    ltv_horizon_days = models.PositiveIntegerField(null=True, blank=True, editable=False)
    ltv_model_version = models.CharField(max_length=64, blank=True, editable=False)
    ltv_scored_at = models.DateTimeField(null=True, blank=True, editable=False)
    ltv_fallback = models.BooleanField(
        default=False, editable=False, help_text="Scored by BG/NBD+GG: the workspace had no active model."
    )
    ltv_state = models.BinaryField(
        null=True,
        blank=True,
        editable=False,
        help_text="GRU state (float32 bytes) for the serving fast path.",
    )
    ltv_state_as_of = models.DateField(
        null=True, blank=True, editable=False, help_text="As-of date of the prediction and of its state."
    )

    # Shown read-only in the admin and the API (the state bytes are not shown).
    PROFILE_FIELDS = (
        "store",
        "platform_id",
        "email",
        "first_name",
        "last_name",
        "accepts_marketing",
        "acquisition_source",
        "created_at",
        "updated_at",
    )
    AGGREGATE_FIELDS = (
        "first_order_at",
        "last_order_at",
        "orders_count",
        "total_spent",
        "first_order_value",
    )
    LTV_FIELDS = (
        "predicted_ltv",
        "predicted_ltv_low",
        "predicted_ltv_high",
        "predicted_purchases",
        "ltv_horizon_days",
        "ltv_model_version",
        "ltv_scored_at",
        "ltv_fallback",
        "ltv_state_as_of",
    )

    class Meta:
        ordering = [F("predicted_ltv").desc(nulls_last=True), "pk"]
        constraints = [
            models.UniqueConstraint(fields=["store", "platform_id"], name="customer_unique_per_store"),
            models.CheckConstraint(condition=Q(total_spent__gte=0), name="customer_total_spent_gte_0"),
            models.CheckConstraint(
                condition=Q(predicted_ltv__isnull=True)
                | (
                    Q(predicted_ltv_low__lte=F("predicted_ltv"))
                    & Q(predicted_ltv__lte=F("predicted_ltv_high"))
                    & Q(predicted_ltv_low__gte=0)
                ),
                name="customer_ltv_interval_ordered",
            ),
        ]
        indexes = [
            models.Index(F("predicted_ltv").desc(nulls_last=True), "id", name="customer_ltv_desc"),
            models.Index(fields=["email"], name="customer_email"),
        ]

    def __str__(self) -> str:
        return f"customer {self.platform_id} @ store {self.store_id}"  # no PII


class Order(models.Model):
    """An order as the store reported it; an identical re-send changes nothing (``orders_upsert``).

    ``customer`` is nullable (guest checkouts) and PROTECTed: an order is a financial record that
    billing attributes revenue from, so a customer with orders is anonymised, never deleted, and the
    customer's aggregates and LTV stay consistent with its orders.
    """

    class FinancialStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        AUTHORIZED = "authorized", "Authorized"
        PAID = "paid", "Paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        VOIDED = "voided", "Voided"

    class FulfillmentStatus(models.TextChoices):
        UNFULFILLED = "unfulfilled", "Unfulfilled"
        PARTIAL = "partial", "Partially fulfilled"
        FULFILLED = "fulfilled", "Fulfilled"

    store = models.ForeignKey(StoreConnection, on_delete=models.PROTECT, related_name="orders")
    platform_id = models.CharField(max_length=100, help_text="The order's id on the store's platform.")
    number = models.CharField(max_length=50, blank=True, help_text="What the shopper sees, e.g. #1001.")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    placed_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    subtotal = _money(default=ZERO)
    tax = _money(default=ZERO)
    shipping = _money(default=ZERO)
    discount = _money(default=ZERO)
    total = _money()
    total_refunded = _money(default=ZERO)
    financial_status = models.CharField(
        max_length=20, choices=FinancialStatus.choices, default=FinancialStatus.PAID
    )
    fulfillment_status = models.CharField(
        max_length=20, choices=FulfillmentStatus.choices, default=FulfillmentStatus.UNFULFILLED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The fields an upsert compares and writes (everything the platform tells us).
    UPSERT_FIELDS = (
        "number",
        "customer",
        "placed_at",
        "cancelled_at",
        "currency",
        "subtotal",
        "tax",
        "shipping",
        "discount",
        "total",
        "total_refunded",
        "financial_status",
        "fulfillment_status",
    )

    class Meta:
        ordering = ["-placed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["store", "platform_id"], name="order_unique_per_store"),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0) & Q(tax__gte=0) & Q(shipping__gte=0) & Q(discount__gte=0),
                name="order_parts_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0) & Q(total_refunded__gte=0) & Q(total_refunded__lte=F("total")),
                name="order_refund_within_total",
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="order_currency_iso"),
            models.CheckConstraint(
                condition=Q(cancelled_at__isnull=True) | Q(cancelled_at__gte=F("placed_at")),
                name="order_cancelled_after_placed",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "placed_at"], name="order_customer_placed"),
            models.Index(fields=["store", "placed_at"], name="order_store_placed"),
        ]

    def __str__(self) -> str:
        return f"order {self.number or self.platform_id} @ store {self.store_id}"

    @property
    def net_value(self) -> Decimal:
        """What the order is worth for LTV: 0 when cancelled, else total − total_refunded."""
        return ZERO if self.cancelled_at is not None else self.total - self.total_refunded
