"""Shopify: the Admin GraphQL API (REST Admin is legacy), cursor pagination, cost-based throttling
read from ``extensions.cost.throttleStatus``, expiring offline tokens, and the REST-shaped webhook
payloads (api-contracts.md §1).

Ids: GraphQL's ``gid://shopify/Order/123`` and the webhooks' ``123`` are the same object; we store the
number, so a sync and a webhook write the same row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.stores.integrations.base import (
    Delivery,
    HttpClient,
    Page,
    PlatformError,
    ShopInfo,
    gc_paused,
    money,
)
from apps.stores.integrations.shopify.bulk import (
    BULK_CHUNK,
    RESTARTS,
    RUNNING,
    BulkExpired,
    BulkQuery,
    BulkReader,
    BulkUnavailable,
    download_client,
)
from apps.stores.integrations.versions import SHOPIFY_API_VERSION
from apps.stores.services.catalog import InventoryInput, ProductInput, VariantInput
from apps.stores.services.orders import CustomerInput, OrderInput, OrderItemInput, RefundInput

logger = logging.getLogger(__name__)

# Nodes per page, kept under Shopify's cap of 1,000 points for one query (cost ≈ first × (1 + the
# nested connection's first)): orders 50 × (1 + 15 lines) ≈ 800, products 25 × (1 + 30 variants) ≈ 775.
# An order or product with more lines or variants gets the rest by follow-up queries (``_rest``).
PAGE_SIZE = {"orders": 50, "products": 25, "inventory": 25, "customers": 100}
LINES_FIRST, VARIANTS_FIRST, REST_FIRST = 15, 30, 100
WEBHOOK_TOPICS = {
    # GraphQL enum → REST topic header
    "ORDERS_CREATE": "orders/create",
    "ORDERS_UPDATED": "orders/updated",
    "ORDERS_CANCELLED": "orders/cancelled",
    "REFUNDS_CREATE": "refunds/create",
    "PRODUCTS_CREATE": "products/create",
    "PRODUCTS_UPDATE": "products/update",
    "PRODUCTS_DELETE": "products/delete",
    "INVENTORY_LEVELS_UPDATE": "inventory_levels/update",
    "CUSTOMERS_CREATE": "customers/create",
    "CUSTOMERS_UPDATE": "customers/update",
    "APP_UNINSTALLED": "app/uninstalled",
}

_MONEY = "{ shopMoney { amount } }"
_LINE = f"id sku title quantity originalUnitPriceSet {_MONEY} totalDiscountSet {_MONEY} variant {{ id }} product {{ id }}"
_VARIANT = "id sku title price inventoryQuantity inventoryItem { id tracked }"
# What we read of each object, shared by the paginated queries and the bulk ones (one selection).
_ORDER = f"""id name createdAt updatedAt processedAt cancelledAt currencyCode
      displayFinancialStatus displayFulfillmentStatus
      subtotalPriceSet {_MONEY} totalTaxSet {_MONEY} totalShippingPriceSet {_MONEY}
      totalDiscountsSet {_MONEY} totalPriceSet {_MONEY} totalRefundedSet {_MONEY}
      customer {{ id email firstName lastName emailMarketingConsent {{ marketingState }} }}
      customerJourneySummary {{ firstVisit {{ landingPage referrerUrl }} }}
      refunds {{ id createdAt totalRefundedSet {_MONEY} }}"""
_PRODUCT = "id title handle onlineStoreUrl updatedAt status"
_CUSTOMER = "id email firstName lastName updatedAt emailMarketingConsent { marketingState }"
ORDERS_QUERY = f"""
query Orders($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{
      {_ORDER}
      lineItems(first: {LINES_FIRST}) {{ nodes {{ {_LINE} }} pageInfo {{ hasNextPage endCursor }} }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
PRODUCTS_QUERY = f"""
query Products($first: Int!, $after: String, $query: String) {{
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{
      {_PRODUCT}
      variants(first: {VARIANTS_FIRST}) {{ nodes {{ {_VARIANT} }} pageInfo {{ hasNextPage endCursor }} }}
    }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
CUSTOMERS_QUERY = f"""
query Customers($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    nodes {{ {_CUSTOMER} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
# The rest of one order's lines or one product's variants, REST_FIRST at a time.
ORDER_LINES_QUERY = f"""
query OrderLines($id: ID!, $after: String) {{
  order(id: $id) {{ lineItems(first: {REST_FIRST}, after: $after) {{ nodes {{ {_LINE} }} pageInfo {{ hasNextPage endCursor }} }} }}
}}"""
PRODUCT_VARIANTS_QUERY = f"""
query ProductVariants($id: ID!, $after: String) {{
  product(id: $id) {{ variants(first: {REST_FIRST}, after: $after) {{ nodes {{ {_VARIANT} }} pageInfo {{ hasNextPage endCursor }} }} }}
}}"""
SHOP_QUERY = "query Shop { shop { name currencyCode myshopifyDomain } }"
WEBHOOK_MUTATION = """
mutation Subscribe($topic: WebhookSubscriptionTopic!, $callbackUrl: URL!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {callbackUrl: $callbackUrl, format: JSON}) {
    webhookSubscription { id }
    userErrors { field message }
  }
}"""
# Full syncs: one bulk operation per resource (``bulk.py``); nested connections take no ``first``.
_BULK_ORDERS = BulkQuery(
    f"{{ orders {{ edges {{ node {{ {_ORDER} lineItems {{ edges {{ node {{ {_LINE} }} }} }} }} }} }} }}",
    "lineItems",
)
_BULK_PRODUCTS = BulkQuery(
    f"{{ products {{ edges {{ node {{ {_PRODUCT} variants {{ edges {{ node {{ {_VARIANT} }} }} }} }} }} }} }}",
    "variants",
)
BULK_QUERIES = {
    "orders": _BULK_ORDERS,
    "products": _BULK_PRODUCTS,
    "inventory": _BULK_PRODUCTS,
    "customers": BulkQuery(f"{{ customers {{ edges {{ node {{ {_CUSTOMER} }} }} }} }}", None),
}
_QUERIES = {
    "orders": ORDERS_QUERY,
    "products": PRODUCTS_QUERY,
    "customers": CUSTOMERS_QUERY,
    "inventory": PRODUCTS_QUERY,
}


def numeric_id(gid: str | int | None) -> str:
    """``gid://shopify/Order/123`` (or ``123``) → ``"123"``; the query string of inventory level gids
    is dropped too."""
    if gid is None:
        return ""
    return str(gid).rsplit("/", 1)[-1].split("?", 1)[0]


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _set(node: dict[str, Any] | None) -> Decimal:
    return money(((node or {}).get("shopMoney") or {}).get("amount"))


_FINANCIAL = {
    "PAID": "paid",
    "PENDING": "pending",
    "AUTHORIZED": "authorized",
    "PARTIALLY_PAID": "paid",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "REFUNDED": "refunded",
    "VOIDED": "voided",
    "EXPIRED": "voided",
}
_FULFILMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}


def _financial(value: str | None) -> str:
    return _FINANCIAL.get((value or "").upper(), "paid")


def _fulfilment(value: str | None) -> str:
    return _FULFILMENT.get((value or "").upper(), "unfulfilled")


def order_from_graphql(node: dict[str, Any]) -> OrderInput:
    customer = node.get("customer")
    visit = ((node.get("customerJourneySummary") or {}).get("firstVisit")) or {}
    return OrderInput(
        platform_id=numeric_id(node["id"]),
        number=node.get("name") or "",
        placed_at=_dt(node["createdAt"]),  # type: ignore[arg-type]
        platform_updated_at=_dt(node.get("updatedAt")),
        processed_at=_dt(node.get("processedAt")),
        cancelled_at=_dt(node.get("cancelledAt")),
        currency=node.get("currencyCode"),
        subtotal=_set(node.get("subtotalPriceSet")),
        tax=_set(node.get("totalTaxSet")),
        shipping=_set(node.get("totalShippingPriceSet")),
        discount=_set(node.get("totalDiscountsSet")),
        total=_set(node.get("totalPriceSet")),
        financial_status=_financial(node.get("displayFinancialStatus")),
        fulfillment_status=_fulfilment(node.get("displayFulfillmentStatus")),
        customer=_customer_from_graphql(customer) if customer else None,
        landing_site=visit.get("landingPage") or "",
        referrer=visit.get("referrerUrl") or "",
        items=tuple(
            OrderItemInput(
                platform_id=numeric_id(li["id"]),
                sku=li.get("sku") or "",
                title=li.get("title") or "",
                quantity=int(li.get("quantity") or 0),
                price=_set(li.get("originalUnitPriceSet")),
                discount=_set(li.get("totalDiscountSet")),
                variant_platform_id=numeric_id((li.get("variant") or {}).get("id")),
                product_platform_id=numeric_id((li.get("product") or {}).get("id")),
            )
            for li in ((node.get("lineItems") or {}).get("nodes") or [])
        ),
        refunds=tuple(
            RefundInput(numeric_id(r["id"]), _set(r.get("totalRefundedSet")), _dt(r["createdAt"]))  # type: ignore[arg-type]
            for r in node.get("refunds") or []
        ),
    )


def _records(resource: str, nodes: list[dict[str, Any]]) -> list[Any]:
    """A page of GraphQL nodes (paginated or reassembled from a bulk file) as records to write."""
    if resource == "orders":
        return [order_from_graphql(n) for n in nodes]
    if resource == "customers":
        return [_customer_from_graphql(n) for n in nodes]
    if resource == "products":
        return [product_from_graphql(n) for n in nodes]
    return [
        InventoryInput(quantity=v.inventory_quantity, variant_platform_id=v.platform_id)
        for p in (product_from_graphql(n) for n in nodes)
        for v in p.variants
    ]


def _customer_from_graphql(node: dict[str, Any]) -> CustomerInput:
    consent = ((node.get("emailMarketingConsent") or {}).get("marketingState") or "").upper()
    return CustomerInput(
        platform_id=numeric_id(node["id"]),
        email=node.get("email") or "",
        first_name=node.get("firstName") or "",
        last_name=node.get("lastName") or "",
        accepts_marketing=consent == "SUBSCRIBED",
    )


def product_from_graphql(node: dict[str, Any]) -> ProductInput:
    return ProductInput(
        platform_id=numeric_id(node["id"]),
        title=node.get("title") or "",
        url=node.get("onlineStoreUrl") or "",
        deleted=(node.get("status") or "").upper() == "ARCHIVED",
        platform_updated_at=_dt(node.get("updatedAt")),
        variants=tuple(
            VariantInput(
                platform_id=numeric_id(v["id"]),
                sku=v.get("sku") or "",
                title=v.get("title") or "",
                price=money(v.get("price")),
                inventory_quantity=(
                    v.get("inventoryQuantity")
                    if ((v.get("inventoryItem") or {}).get("tracked", True))
                    else None
                ),
                inventory_item_id=numeric_id((v.get("inventoryItem") or {}).get("id")),
            )
            for v in ((node.get("variants") or {}).get("nodes") or [])
        ),
    )


# --- REST-shaped webhook payloads (api-contracts.md §1d) ---------------------------------------------
def order_from_rest(p: dict[str, Any]) -> OrderInput:
    customer = p.get("customer")
    refunds = []
    for r in p.get("refunds") or []:
        amount = sum(
            (money(t.get("amount")) for t in r.get("transactions") or [] if t.get("kind") == "refund"),
            Decimal("0.00"),
        )
        refunds.append(RefundInput(str(r["id"]), amount, _dt(r["created_at"])))  # type: ignore[arg-type]
    shipping = sum((money(s.get("price")) for s in p.get("shipping_lines") or []), Decimal("0.00"))
    return OrderInput(
        platform_id=str(p["id"]),
        number=p.get("name") or "",
        placed_at=_dt(p["created_at"]),  # type: ignore[arg-type]
        platform_updated_at=_dt(p.get("updated_at")),
        processed_at=_dt(p.get("processed_at")),
        cancelled_at=_dt(p.get("cancelled_at")),
        currency=p.get("currency"),
        subtotal=money(p.get("subtotal_price")),
        tax=money(p.get("total_tax")),
        shipping=shipping,
        discount=money(p.get("total_discounts")),
        total=money(p.get("total_price")),
        financial_status=_financial(p.get("financial_status")),
        fulfillment_status=_fulfilment(p.get("fulfillment_status")),
        customer=CustomerInput(
            platform_id=str(customer["id"]),
            email=customer.get("email") or "",
            first_name=customer.get("first_name") or "",
            last_name=customer.get("last_name") or "",
        )
        if customer
        else None,
        landing_site=p.get("landing_site") or "",
        referrer=p.get("referring_site") or "",
        items=tuple(
            OrderItemInput(
                platform_id=str(li["id"]),
                sku=li.get("sku") or "",
                title=li.get("title") or "",
                quantity=int(li.get("quantity") or 0),
                price=money(li.get("price")),
                discount=money(li.get("total_discount")),
                variant_platform_id=str(li.get("variant_id") or ""),
                product_platform_id=str(li.get("product_id") or ""),
            )
            for li in p.get("line_items") or []
        ),
        refunds=tuple(refunds),
    )


def product_from_rest(p: dict[str, Any]) -> ProductInput:
    return ProductInput(
        platform_id=str(p["id"]),
        title=p.get("title") or "",
        deleted=(p.get("status") or "") == "archived",
        platform_updated_at=_dt(p.get("updated_at")),
        variants=tuple(
            VariantInput(
                platform_id=str(v["id"]),
                sku=v.get("sku") or "",
                title=v.get("title") or "",
                price=money(v.get("price")),
                inventory_quantity=v.get("inventory_quantity"),
                inventory_item_id=str(v.get("inventory_item_id") or ""),
            )
            for v in p.get("variants") or []
        ),
    )


class ShopifyAdapter:
    """One shop's Admin GraphQL API. ``api_base`` is ``KIKI_SHOPIFY_API_BASE`` with the shop filled in."""

    def __init__(
        self,
        *,
        api_base: str,
        access_token: str,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int | None = None,
        bulk: bool = True,
    ) -> None:
        self.http = HttpClient(
            base_url=f"{api_base.rstrip('/')}/admin/api/{SHOPIFY_API_VERSION}",
            headers={"X-Shopify-Access-Token": access_token, "Content-Type": "application/json"},
            sleep=sleep,
        )
        self.sleep = sleep
        self.page_size = page_size  # None: PAGE_SIZE per resource
        self.bulk = bulk  # full syncs through bulk operations (else paginated, like incremental ones)
        self._bulk_reader: BulkReader | None = None  # made by the first full sync (webhooks need none)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GraphQL call; THROTTLED (200 or 429) waits what ``throttleStatus`` says it takes to
        restore the points asked for, then tries again."""
        for _ in range(20):
            response = self.http.request(
                "POST", "graphql.json", json={"query": query, "variables": variables or {}}
            )
            body = response.json()
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                self.sleep(self._restore_wait(body))
                self.http.retries += 1
                continue
            if errors:
                raise PlatformError(f"Shopify GraphQL: {errors[0].get('message', 'error')}")
            return body
        raise PlatformError("Shopify kept throttling for 20 tries", transient=True)

    @staticmethod
    def _restore_wait(body: dict[str, Any]) -> float:
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        needed = float(cost.get("requestedQueryCost") or 0) - float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 50) or 50.0
        return max(0.05, needed / rate)

    def shop(self) -> ShopInfo:
        shop = self.graphql(SHOP_QUERY)["data"]["shop"]
        return ShopInfo(name=shop["name"], currency=shop["currencyCode"], domain=shop["myshopifyDomain"])

    def fetch(self, resource: str, *, cursor: dict[str, Any], since: datetime | None) -> Page:
        if since is None and self.bulk and "after" not in cursor:
            try:
                return self._bulk_fetch(resource, cursor.get("bulk") or {})
            except BulkUnavailable as exc:  # the shop's bulk queries are all taken: paginate
                logger.info("shopify bulk query unavailable; paginating", extra={"reason": str(exc)})
        query = f"updated_at:>='{since.isoformat()}'" if since is not None else None
        first = self.page_size or PAGE_SIZE[resource]
        body = self.graphql(
            _QUERIES[resource], {"first": first, "after": cursor.get("after"), "query": query}
        )
        root = "customers" if resource == "customers" else "orders" if resource == "orders" else "products"
        connection = body["data"][root]
        nodes = connection.get("nodes") or []
        if resource == "orders":
            for node in nodes:
                self._rest(node, "lineItems", ORDER_LINES_QUERY, "order")
        elif resource in ("products", "inventory"):
            for node in nodes:
                self._rest(node, "variants", PRODUCT_VARIANTS_QUERY, "product")
        info = connection.get("pageInfo") or {}
        next_cursor = {"after": info["endCursor"]} if info.get("hasNextPage") else None
        return Page(_records(resource, nodes), next_cursor)

    @property
    def _bulk(self) -> BulkReader:
        if self._bulk_reader is None:
            self._bulk_reader = BulkReader(
                graphql=self.graphql, download=download_client(self.sleep), sleep=self.sleep
            )
        return self._bulk_reader

    def _bulk_fetch(self, resource: str, state: dict[str, Any]) -> Page:
        """One page of a full sync through a bulk operation: start it (or resume the one the cursor
        names), wait for its file, then read ``BULK_CHUNK`` root objects from the cursor's offset."""
        bulk = BULK_QUERIES[resource]
        for _ in range(RESTARTS + 1):
            if not state.get("id"):
                state = {"id": self._bulk.start(bulk)}
            if "url" not in state:
                operation = self._bulk.wait(state["id"])
                status = operation.get("status")
                if status in RUNNING:  # still running: the run saves this cursor and comes back
                    return Page([], {"bulk": state})
                if status != "COMPLETED":
                    logger.warning(
                        "shopify bulk operation ended without a file; starting another",
                        extra={"status": status, "error_code": operation.get("errorCode")},
                    )
                    state = {}
                    continue
                if not operation.get("url"):  # nothing matched: an empty store
                    return Page([], None, total=0)
                state = {
                    "id": state["id"],
                    "url": operation["url"],
                    "offset": 0,
                    "total": int(operation.get("rootObjectCount") or 0),
                }
            try:
                with gc_paused():
                    nodes, offset = self._bulk.read(bulk, state["url"], int(state["offset"]), BULK_CHUNK)
                    records = _records(resource, nodes)
            except BulkExpired:
                logger.warning("shopify bulk file expired; starting another operation")
                state = {}
                continue
            next_cursor = None if offset is None else {"bulk": {**state, "offset": offset}}
            return Page(records, next_cursor, total=state.get("total"))
        raise PlatformError("Shopify bulk operations kept failing", transient=True)

    def _rest(self, node: dict[str, Any], field: str, query: str, root: str) -> None:
        """Complete a node's nested connection (lines of a big order, variants of a big product)."""
        connection = node.get(field) or {}
        info = connection.get("pageInfo") or {}
        while info.get("hasNextPage"):
            more = self.graphql(query, {"id": node["id"], "after": info.get("endCursor")})["data"][root][
                field
            ]
            connection.setdefault("nodes", []).extend(more.get("nodes") or [])
            info = more.get("pageInfo") or {}

    def register_webhooks(self, *, address: str) -> list[str]:
        created = []
        for topic in WEBHOOK_TOPICS:
            body = self.graphql(WEBHOOK_MUTATION, {"topic": topic, "callbackUrl": address})
            result = body["data"]["webhookSubscriptionCreate"]
            if result.get("userErrors"):
                raise PlatformError(
                    f"Shopify refused the {topic} webhook: {result['userErrors'][0]['message']}"
                )
            created.append(topic)
        return created

    def records_of(self, delivery: Delivery) -> list[Any]:
        return records_of_delivery(delivery)


def records_of_delivery(delivery: Delivery) -> list[Any]:
    """A verified delivery's payload as records (no call to Shopify: the payload is the resource)."""
    p = delivery.payload
    topic = delivery.topic
    if topic in ("orders/create", "orders/updated", "orders/cancelled"):
        return [order_from_rest(p)]
    if topic in ("products/create", "products/update"):
        return [product_from_rest(p)]
    if topic == "products/delete":
        return [ProductInput(platform_id=str(p["id"]), title="", deleted=True)]
    if topic == "inventory_levels/update":
        return [InventoryInput(quantity=p.get("available"), inventory_item_id=str(p["inventory_item_id"]))]
    if topic in ("customers/create", "customers/update"):
        return [
            CustomerInput(
                platform_id=str(p["id"]),
                email=p.get("email") or "",
                first_name=p.get("first_name") or "",
                last_name=p.get("last_name") or "",
            )
        ]
    return []


def token_request(
    *,
    api_base: str,
    client_id: str,
    client_secret: str,
    code: str | None = None,
    refresh_token: str | None = None,
) -> dict[str, Any]:
    """Exchange an authorization code (or a refresh token) for an expiring offline token."""
    data: dict[str, Any] = {"client_id": client_id, "client_secret": client_secret}
    if refresh_token is not None:
        data.update(grant_type="refresh_token", refresh_token=refresh_token)
    else:
        data.update(code=code, expiring="1")
    http = HttpClient(base_url=api_base, max_attempts=3)
    try:
        response = http.request("POST", "admin/oauth/access_token", json=data)
    except PlatformError as exc:
        raise PlatformError(f"Shopify token request failed ({exc.status})", status=exc.status) from None
    body = response.json()
    if "access_token" not in body:
        raise PlatformError("Shopify answered the token request without a token")
    return body
