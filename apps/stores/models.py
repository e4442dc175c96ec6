"""Models of the stores app (tenant schema): connected stores, their catalog, customers, orders, the
webhook deliveries and sync runs that fill them, and each store's 12-month baseline.

Every row is written by ``apps.stores.services``.

Net order value (what LTV learns from and what ``Customer.total_spent`` sums):
``Order.total − Order.total_refunded``, in the store's currency, over orders that are not cancelled
(``cancelled_at`` is null). A cancelled order counts for nothing; a refund lowers the order's net
value (a full refund makes it 0 but it is still a purchase occasion).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from apps.core.fields import EncryptedTextField

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
        CONNECTING = "connecting", "Connecting"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        UNINSTALLED = "uninstalled", "Uninstalled"
        ERROR = "error", "Error"

    platform = models.CharField(max_length=20, choices=Platform.choices)
    name = models.CharField(max_length=200)
    shop_domain = models.CharField(
        max_length=255,
        blank=True,
        help_text="Shopify: acme.myshopify.com; WooCommerce: the store's URL; BigCommerce: the store hash.",
    )
    currency = models.CharField(max_length=3, help_text="ISO 4217; every amount of this store is in it.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    connected_at = models.DateTimeField(
        null=True, blank=True, help_text="When KIKI was connected: the baseline is the 12 months before."
    )
    # Credentials: a JSON object (access/refresh token, consumer key/secret…), encrypted at rest, never
    # shown in the admin or the API and never logged. The webhook secret is the one we verify with.
    credentials = EncryptedTextField(blank=True, default="", editable=False)
    webhook_secret = EncryptedTextField(blank=True, default="", editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    granted_scopes = models.CharField(max_length=1000, blank=True, editable=False)
    api_version = models.CharField(max_length=20, blank=True, editable=False)
    sync_cursors = models.JSONField(
        default=dict, blank=True, editable=False, help_text="Per resource: the updated-at cursor of the poll."
    )
    last_sync_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "store"
        constraints = [
            models.CheckConstraint(
                condition=Q(platform__in=["shopify", "woocommerce", "bigcommerce", "manual"]),
                name="store_platform_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["connecting", "active", "paused", "uninstalled", "error"]),
                name="store_status_valid",
            ),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="store_currency_iso"),
            # The same shop connected twice would count every order twice.
            models.UniqueConstraint(
                fields=["platform", "shop_domain"], condition=~Q(shop_domain=""), name="store_unique_shop"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    # What the admin and the API show of a store (never its credentials or webhook secret).
    SHOWN_FIELDS = (
        "platform",
        "name",
        "shop_domain",
        "currency",
        "status",
        "created_at",
        "connected_at",
        "granted_scopes",
        "api_version",
        "last_sync_at",
        "last_error",
    )

    @property
    def is_connected(self) -> bool:
        """A platform store (not manual) that we sync from."""
        return self.platform != self.Platform.MANUAL

    @property
    def accepts_orders(self) -> bool:
        """Orders are written while connecting (the initial sync) and while active."""
        return self.status in (self.Status.CONNECTING, self.Status.ACTIVE)


class Customer(models.Model):
    """A store's customer. Name and email are PII: never logged.

    Order aggregates (``first_order_at`` … ``total_spent``) are recomputed from the orders by
    ``orders_upsert`` on every change, over non-cancelled orders and net values (module docstring).
    LTV fields are written by ``customer_set_ltv`` (bidding's scoring): money in the store's currency.
    """

    # Indexed by the unique (store, platform_id): a second index on store alone only costs writes.
    store = models.ForeignKey(
        StoreConnection, on_delete=models.PROTECT, related_name="customers", db_index=False
    )
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
    purchase_days = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Distinct UTC days with a purchase: several orders on one day are one purchase (LTV).",
    )
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
        "purchase_days",
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

    # Indexed by the unique (store, platform_id) and (store, placed_at); customer by (customer,
    # placed_at): single-column indexes on them would only cost every order's insert.
    store = models.ForeignKey(
        StoreConnection, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    platform_id = models.CharField(max_length=100, help_text="The order's id on the store's platform.")
    number = models.CharField(max_length=50, blank=True, help_text="What the shopper sees, e.g. #1001.")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="orders", db_index=False
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
    processed_at = models.DateTimeField(null=True, blank=True)
    platform_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="The platform's last change: the incremental sync's cursor."
    )
    # Where the shopper came from (attribution): the landing page and referrer as the platform saw
    # them, the UTM parameters and the ad platforms' click ids found on them.
    landing_site = models.CharField(max_length=2000, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    gclid = models.CharField(max_length=300, blank=True)
    fbclid = models.CharField(max_length=300, blank=True)
    ttclid = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Attribution read from a landing URL's query (or given): UTM parameters and click ids.
    URL_ATTRIBUTION_FIELDS = (
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "gclid",
        "fbclid",
        "ttclid",
    )
    ATTRIBUTION_FIELDS = ("landing_site", "referrer", *URL_ATTRIBUTION_FIELDS)
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
        "processed_at",
        "platform_updated_at",
        *ATTRIBUTION_FIELDS,
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


# --- catalog -----------------------------------------------------------------------------------------
class Product(models.Model):
    store = models.ForeignKey(StoreConnection, on_delete=models.PROTECT, related_name="products")
    platform_id = models.CharField(max_length=100)
    title = models.CharField(max_length=500)
    url = models.CharField(max_length=2000, blank=True)
    deleted = models.BooleanField(default=False, help_text="Deleted on the platform; kept for history.")
    platform_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["store", "platform_id"], name="product_unique_per_store"),
        ]

    def __str__(self) -> str:
        return self.title


class Variant(models.Model):
    """A sellable variant. ``in_stock`` follows its inventory: every change of it is an
    ``InventoryEvent`` and a call of the stores' inventory hook (campaigns pause and resume)."""

    store = models.ForeignKey(StoreConnection, on_delete=models.PROTECT, related_name="variants")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="variants")
    platform_id = models.CharField(max_length=100)
    inventory_item_id = models.CharField(
        max_length=100, blank=True, help_text="Shopify's inventory item (inventory webhooks name it)."
    )
    sku = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500, blank=True)
    price = _money(default=ZERO)
    inventory_quantity = models.IntegerField(null=True, blank=True, help_text="Null: not tracked.")
    in_stock = models.BooleanField(default=True)
    deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["store", "platform_id"], name="variant_unique_per_store"),
            models.CheckConstraint(condition=Q(price__gte=0), name="variant_price_gte_0"),
        ]
        indexes = [
            models.Index(fields=["store", "sku"], name="variant_store_sku"),
            models.Index(fields=["store", "inventory_item_id"], name="variant_store_inventory_item"),
        ]

    def __str__(self) -> str:
        return self.sku or self.title or self.platform_id


class OrderItem(models.Model):
    order = models.ForeignKey(  # indexed by the unique (order, platform_id)
        Order, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    platform_id = models.CharField(max_length=100)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    variant = models.ForeignKey(Variant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sku = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    price = _money(default=ZERO, help_text="Unit price.")
    discount = _money(default=ZERO, help_text="Discount on the whole line.")

    class Meta:
        ordering = ["order_id", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["order", "platform_id"], name="orderitem_unique_per_order"),
            models.CheckConstraint(
                condition=Q(price__gte=0) & Q(discount__gte=0), name="orderitem_money_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku or self.title}"


class Refund(models.Model):
    order = models.ForeignKey(  # indexed by the unique (order, platform_id)
        Order, on_delete=models.CASCADE, related_name="refunds", db_index=False
    )
    platform_id = models.CharField(max_length=100)
    amount = _money()
    refunded_at = models.DateTimeField()

    class Meta:
        ordering = ["refunded_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["order", "platform_id"], name="refund_unique_per_order"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="refund_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} of order {self.order_id}"


class InventoryEvent(models.Model):
    """A variant went out of stock or came back (only transitions are recorded)."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        SYNC = "sync", "Sync"
        ADMIN = "admin", "Admin"

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="inventory_events")
    previous_quantity = models.IntegerField(null=True, blank=True)
    new_quantity = models.IntegerField(null=True, blank=True)
    in_stock = models.BooleanField(help_text="The state after the transition.")
    source = models.CharField(max_length=20, choices=Source.choices)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]

    def __str__(self) -> str:
        return f"variant {self.variant_id} {'in stock' if self.in_stock else 'out of stock'}"


# --- how data arrives --------------------------------------------------------------------------------
class WebhookDelivery(models.Model):
    """A verified delivery, stored before it is processed (deduplicated on the platform's id)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (topic not used)"
        FAILED = "failed", "Failed"

    store = models.ForeignKey(StoreConnection, on_delete=models.CASCADE, related_name="webhook_deliveries")
    platform = models.CharField(max_length=20, choices=StoreConnection.Platform.choices)
    topic = models.CharField(max_length=100)
    delivery_id = models.CharField(max_length=200)
    raw_body = models.BinaryField()
    headers = models.JSONField(default=dict, help_text="The platform's headers (no credentials).")
    signature_valid = models.BooleanField(default=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["store", "topic", "delivery_id"], name="webhookdelivery_unique_per_store_topic"
            ),
        ]
        indexes = [models.Index(fields=["received_at"], name="webhookdelivery_received")]

    def __str__(self) -> str:
        return f"{self.platform} {self.topic} {self.delivery_id}"


class SyncRun(models.Model):
    class Resource(models.TextChoices):
        PRODUCTS = "products", "Products and variants"
        CUSTOMERS = "customers", "Customers"
        ORDERS = "orders", "Orders (with refunds)"
        INVENTORY = "inventory", "Inventory"

    class Mode(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    store = models.ForeignKey(StoreConnection, on_delete=models.CASCADE, related_name="sync_runs")
    resource = models.CharField(max_length=20, choices=Resource.choices)
    mode = models.CharField(max_length=20, choices=Mode.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    cursor = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the run stands: saved after every page, so a restart resumes.",
    )
    since = models.DateTimeField(null=True, blank=True, help_text="Incremental: changes from here on.")
    pages = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    total_items = models.PositiveIntegerField(null=True, blank=True, help_text="When the platform says.")
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, help_text="Last page written: a stalled run shows here.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    SHOWN_FIELDS = (
        "store",
        "resource",
        "mode",
        "state",
        "pages",
        "items",
        "total_items",
        "since",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "error",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One run in flight per store and resource: a second request joins it.
            models.UniqueConstraint(
                fields=["store", "resource"],
                condition=Q(state__in=["queued", "running"]),
                name="syncrun_one_in_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mode} sync of {self.resource} (store {self.store_id})"

    @property
    def progress(self) -> float | None:
        if self.state == self.State.DONE:
            return 1.0
        if not self.total_items:
            return None
        return min(1.0, self.items / self.total_items)


class Baseline(models.Model):
    """A store's 12 months before KIKI (``period_start`` ≤ placed_at < ``period_end``), the reference
    that incremental revenue is measured against. See ``services.baseline`` for the rule."""

    store = models.ForeignKey(StoreConnection, on_delete=models.CASCADE, related_name="baselines")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    currency = models.CharField(max_length=3)
    revenue = _money(help_text="Net revenue: totals of non-cancelled orders minus their refunds.")
    gross_revenue = _money(help_text="Totals of non-cancelled orders, before refunds.")
    refunds = _money(help_text="Refunded on those orders.")
    orders = models.PositiveIntegerField(help_text="Non-cancelled orders.")
    cancelled_orders = models.PositiveIntegerField()
    average_order_value = _money()
    unique_customers = models.PositiveIntegerField()
    repeat_customers = models.PositiveIntegerField(help_text="Customers with 2 or more orders.")
    repeat_customer_rate = models.DecimalField(max_digits=7, decimal_places=4)
    monthly = models.JSONField(help_text='[{"month": "2025-01", "revenue": "…", "orders": n, …}]')
    computed_at = models.DateTimeField()
    is_current = models.BooleanField(default=True)

    class Meta:
        ordering = ["-computed_at", "-pk"]
        get_latest_by = "computed_at"
        constraints = [
            models.UniqueConstraint(
                fields=["store"], condition=Q(is_current=True), name="baseline_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"baseline of store {self.store_id} ({self.period_start:%Y-%m} – {self.period_end:%Y-%m})"


class DataExport(models.Model):
    """A customer's data as we hold it, produced for a GDPR data request (``customers/data_request``)
    for an Admin to download and send on. It is PII: Admins only, and kept 90 days like deliveries."""

    store = models.ForeignKey(StoreConnection, on_delete=models.CASCADE, related_name="data_exports")
    customer_platform_id = models.CharField(max_length=100)
    request_reference = models.CharField(max_length=100, blank=True, help_text="The platform's request id.")
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"data export for customer {self.customer_platform_id} @ store {self.store_id}"
