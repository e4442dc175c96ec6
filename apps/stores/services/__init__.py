"""The only code that writes stores rows, by purpose: ``orders`` (stores, the bulk order upsert with
customers, items, refunds and aggregates; stored LTV), ``catalog`` (products, variants, inventory and
its transitions), ``connections`` (connecting stores, credentials), ``webhooks`` (verified deliveries
and their processing), ``sync`` (resumable full and incremental syncs), ``baseline`` (the 12 months
before KIKI) and ``privacy`` (GDPR requests, retention).

Other apps import this package only; its names are re-exported here.
Other apps learn about changed purchase histories from ``customers_orders_changed`` (sent after the
upsert's transaction commits) and about stock transitions from ``on_inventory_transition``.
"""

from apps.core.money import CENT
from apps.stores.services.catalog import (
    InventoryInput,
    InventoryTransition,
    ProductInput,
    VariantInput,
    in_stock,
    inventory_set,
    on_inventory_transition,
    products_upsert,
)
from apps.stores.services.connections import (  # noqa: E402 - after the records it uses
    adapter_for,
    bigcommerce_connect,
    bigcommerce_install_start,
    credentials_of,
    shopify_connect,
    shopify_install_start,
    shopify_install_url,
    store_finish_connect,
    woocommerce_authorize_start,
    woocommerce_connect,
)
from apps.stores.services.orders import (
    FUTURE_SKEW,
    MAX_ORDERS_PER_CALL,
    CustomerInput,
    LtvValues,
    OrderInput,
    OrderItemInput,
    RefundInput,
    UpsertResult,
    attribution_from_url,
    customer_set_ltv,
    customers_orders_changed,
    customers_upsert,
    orders_upsert,
    orders_validate,
    store_connected,
    store_create,
)
from apps.stores.services.sync import RESOURCE_ORDER as SYNC_RESOURCES  # noqa: E402
from apps.stores.services.sync import sync_request, sync_store_all  # noqa: E402
from apps.stores.services.webhooks import webhook_replay  # noqa: E402

__all__ = [
    "InventoryInput",
    "InventoryTransition",
    "ProductInput",
    "VariantInput",
    "SYNC_RESOURCES",
    "adapter_for",
    "bigcommerce_connect",
    "bigcommerce_install_start",
    "credentials_of",
    "customers_upsert",
    "in_stock",
    "inventory_set",
    "on_inventory_transition",
    "products_upsert",
    "shopify_connect",
    "shopify_install_start",
    "shopify_install_url",
    "store_finish_connect",
    "sync_request",
    "sync_store_all",
    "webhook_replay",
    "woocommerce_authorize_start",
    "woocommerce_connect",
    "CENT",
    "FUTURE_SKEW",
    "MAX_ORDERS_PER_CALL",
    "CustomerInput",
    "LtvValues",
    "OrderInput",
    "OrderItemInput",
    "RefundInput",
    "UpsertResult",
    "attribution_from_url",
    "customer_set_ltv",
    "customers_orders_changed",
    "orders_upsert",
    "store_connected",
    "orders_validate",
    "store_create",
]
