"""BigCommerce (api-contracts.md §3): the V3 catalog, customers, refunds and hooks APIs (``data`` plus
``meta.pagination``, ``page``/``limit``, ``date_modified:min``) and the V2 orders API (bare arrays sorted
by id, RFC-2822 dates, money as decimal strings such as ``'361.9500'``, line items in the
``/orders/{id}/products`` sub-resource). One store quota per 30 s window is shared by every app on the
store: a 429 waits ``X-Rate-Limit-Time-Reset-Ms``, and a spent quota (``X-Rate-Limit-Requests-Left: 0``)
waits the same before the next call instead of provoking a 429.

Webhook callbacks are thin (``data: {type, id}``), so ``records_of`` fetches the resource they name.
V3 JSON numbers are read as ``Decimal``, never as floats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import requests

from apps.stores.integrations.base import (
    Delivery,
    HttpClient,
    Page,
    PlatformError,
    ShopInfo,
    money,
)
from apps.stores.integrations.bigcommerce.oauth import STORE_HASH
from apps.stores.services.catalog import InventoryInput, ProductInput, VariantInput
from apps.stores.services.orders import CustomerInput, OrderInput, OrderItemInput, RefundInput

PAGE_SIZE = 100  # orders cost one more call each (their products), so pages stay moderate
MAX_PAGE_SIZE = 250  # V2 orders and V3 catalog both cap ``limit`` at 250
MAX_PACE_S = 60.0  # the window is 30 s; a longer "reset" is not believed
WEBHOOK_TOPICS = {
    # BigCommerce scope → our normalised topic
    "store/order/created": "orders/create",
    "store/order/updated": "orders/updated",
    "store/order/statusUpdated": "orders/updated",
    "store/order/refund/created": "refunds/create",
    "store/product/created": "products/create",
    "store/product/updated": "products/update",
    "store/product/deleted": "products/delete",
    "store/product/inventory/updated": "inventory_levels/update",
    "store/sku/inventory/updated": "inventory_levels/update",
    "store/customer/created": "customers/create",
    "store/customer/updated": "customers/update",
    "store/app/uninstalled": "app/uninstalled",
}
_ORDER_TOPICS = {"orders/create", "orders/updated", "refunds/create"}

# V2 order statuses (status_id): 0 Incomplete, 1 Pending, 2 Shipped, 3 Partially Shipped, 4 Refunded,
# 5 Cancelled, 6 Declined, 7 Awaiting Payment, 8 Awaiting Pickup, 9 Awaiting Shipment, 10 Completed,
# 11 Awaiting Fulfillment, 12 Manual Verification Required, 13 Disputed, 14 Partially Refunded.
CANCELLED = 5
_FINANCIAL = {
    0: "pending",
    1: "pending",
    4: "refunded",
    5: "voided",
    6: "voided",
    7: "pending",
    12: "pending",
    14: "partially_refunded",
}
_FINANCIAL_BY_NAME = {
    "incomplete": "pending",
    "pending": "pending",
    "refunded": "refunded",
    "cancelled": "voided",
    "declined": "voided",
    "awaiting payment": "pending",
    "manual verification required": "pending",
    "partially refunded": "partially_refunded",
}
_FULFILLED = {2: "fulfilled", 10: "fulfilled", 3: "partial"}


def when(value: Any) -> datetime | None:
    """A platform date as an aware UTC datetime: V2's RFC-2822 (``Wed, 10 Jan 2018 21:05:30 +0000``)
    or V3's ISO-8601; a date without an offset is UTC."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def reset_wait(response: requests.Response) -> float | None:
    """Seconds until the store's quota window refreshes (``X-Rate-Limit-Time-Reset-Ms``), if said."""
    raw = response.headers.get("X-Rate-Limit-Time-Reset-Ms")
    try:
        return max(0.0, float(raw) / 1000) if raw else None
    except ValueError:
        return None


def _status_id(order: Mapping[str, Any]) -> int | None:
    try:
        return int(order.get("status_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _financial(order: Mapping[str, Any], total: Decimal, refunded: Decimal) -> str:
    status = _status_id(order)
    if status is not None:
        financial = _FINANCIAL.get(status, "paid")
    else:
        financial = _FINANCIAL_BY_NAME.get(str(order.get("status") or "").lower(), "paid")
    if refunded > 0:  # a refund counts whatever the order's status went on to be
        return "refunded" if refunded >= total else "partially_refunded"
    return financial


def _fulfilment(order: Mapping[str, Any]) -> str:
    try:
        shipped, ordered = int(order.get("items_shipped") or 0), int(order.get("items_total") or 0)
    except (TypeError, ValueError):
        shipped = ordered = 0
    if ordered and shipped >= ordered:
        return "fulfilled"
    if shipped:
        return "partial"
    return _FULFILLED.get(_status_id(order) or -1, "unfulfilled")


def _cancelled(order: Mapping[str, Any]) -> bool:
    return _status_id(order) == CANCELLED or str(order.get("status") or "").lower() == "cancelled"


def item_from_v2(line: Mapping[str, Any]) -> OrderItemInput:
    discounts = sum((money(d.get("amount")) for d in line.get("applied_discounts") or []), Decimal("0.00"))
    return OrderItemInput(
        platform_id=str(line["id"]),
        sku=line.get("sku") or "",
        title=line.get("name") or "",
        quantity=int(line.get("quantity") or 0),
        price=money(
            line.get("base_price") if line.get("base_price") is not None else line.get("price_ex_tax")
        ),
        discount=discounts,
        product_platform_id=str(line.get("product_id") or ""),
        variant_platform_id=str(line.get("variant_id") or ""),
    )


def refund_from_v3(refund: Mapping[str, Any]) -> RefundInput:
    return RefundInput(
        platform_id=str(refund["id"]),
        amount=money(refund.get("total_amount")),
        refunded_at=when(refund.get("created")),  # type: ignore[arg-type]
    )


def order_from_v2(
    order: Mapping[str, Any],
    lines: list[dict[str, Any]] | None,
    refunds: list[dict[str, Any]] | None,
) -> OrderInput:
    """A V2 order with its products and V3 refunds. ``customer_id`` 0 is a guest (no customer);
    a cancelled order's ``cancelled_at`` is its last modification, which the cancellation was."""
    total = money(order.get("total_inc_tax"))
    refunded = money(order.get("refunded_amount"))
    billing = order.get("billing_address") or {}
    customer_id = int(order.get("customer_id") or 0)
    modified = when(order.get("date_modified"))
    return OrderInput(
        platform_id=str(order["id"]),
        number=f"#{order['id']}",
        placed_at=when(order["date_created"]),  # type: ignore[arg-type]
        platform_updated_at=modified,
        cancelled_at=modified if _cancelled(order) else None,
        currency=order.get("currency_code") or None,
        subtotal=money(order.get("subtotal_ex_tax")),
        tax=money(order.get("total_tax")),
        shipping=money(order.get("shipping_cost_ex_tax")),
        discount=money(order.get("discount_amount")) + money(order.get("coupon_discount")),
        total=total,
        total_refunded=refunded,
        financial_status=_financial(order, total, refunded),
        fulfillment_status=_fulfilment(order),
        customer=CustomerInput(platform_id=str(customer_id), email=billing.get("email") or None)
        if customer_id > 0
        else None,
        items=None if lines is None else tuple(item_from_v2(line) for line in lines),
        refunds=None if refunds is None else tuple(refund_from_v3(r) for r in refunds),
    )


def _variant_title(variant: Mapping[str, Any]) -> str:
    return " / ".join(str(o.get("label") or "") for o in variant.get("option_values") or [] if o.get("label"))


def product_from_v3(product: Mapping[str, Any], storefront: str = "") -> ProductInput:
    """A V3 catalog product (``include=variants``). Stock is per variant when ``inventory_tracking`` is
    "variant", the product's when "product", and not tracked (``None``) when "none"."""
    tracking = product.get("inventory_tracking") or "none"
    path = ((product.get("custom_url") or {}).get("url")) or ""
    variants = []
    for v in product.get("variants") or []:
        price = v.get("price")
        if price is None:
            price = (
                v.get("calculated_price") if v.get("calculated_price") is not None else product.get("price")
            )
        if tracking == "variant":
            quantity = v.get("inventory_level")
        elif tracking == "product":
            quantity = product.get("inventory_level")
        else:
            quantity = None
        variants.append(
            VariantInput(
                platform_id=str(v["id"]),
                sku=v.get("sku") or "",
                title=_variant_title(v),
                price=money(price),
                inventory_quantity=None if quantity is None else int(quantity),
                inventory_item_id=str(v.get("sku_id") or ""),
            )
        )
    return ProductInput(
        platform_id=str(product["id"]),
        title=product.get("name") or "",
        url=f"{storefront.rstrip('/')}{path}" if path else "",
        platform_updated_at=when(product.get("date_modified")),
        variants=tuple(variants),
    )


def customer_from_v3(customer: Mapping[str, Any]) -> CustomerInput:
    return CustomerInput(
        platform_id=str(customer["id"]),
        email=customer.get("email") or "",
        first_name=customer.get("first_name") or "",
        last_name=customer.get("last_name") or "",
        accepts_marketing=bool(customer.get("accepts_product_review_abandoned_cart_emails")),
    )


def levels_of(product: ProductInput, *, variant_id: str = "") -> list[InventoryInput]:
    return [
        InventoryInput(quantity=v.inventory_quantity, variant_platform_id=v.platform_id)
        for v in product.variants
        if not variant_id or v.platform_id == variant_id
    ]


class BigCommerceAdapter:
    """One store's V2/V3 APIs. ``api_base`` is ``KIKI_BIGCOMMERCE_API_BASE``."""

    def __init__(
        self,
        *,
        api_base: str,
        store_hash: str,
        access_token: str,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if not STORE_HASH.fullmatch(store_hash or ""):
            raise PlatformError("BigCommerce store hash is not a plain alphanumeric hash")
        self.http = HttpClient(
            base_url=f"{api_base.rstrip('/')}/stores/{store_hash}",
            headers={
                "X-Auth-Token": access_token,
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
            sleep=sleep,
            wait_for=reset_wait,
        )
        self.sleep = sleep
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._store: dict[str, Any] | None = None

    # --- HTTP ------------------------------------------------------------------------------------------
    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        """The decoded answer (``None`` for 204 No Content). When the answer says the store's quota is
        spent, wait for the window to refresh before anyone calls again."""
        response = self.http.request(method, path, params=params, json=json)
        if response.headers.get("X-Rate-Limit-Requests-Left", "").strip() == "0":
            wait = reset_wait(response)
            if wait:
                self.sleep(min(wait, MAX_PACE_S))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json(parse_float=Decimal)
        except ValueError:
            raise PlatformError(
                f"{method} {path}: the answer is not JSON", status=response.status_code
            ) from None

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def _get_or_none(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """A single resource, or ``None`` when it no longer exists (404)."""
        try:
            return self._get(path, params)
        except PlatformError as exc:
            if exc.status == 404:
                return None
            raise

    def _v3_page(
        self, path: str, params: dict[str, Any], cursor: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any] | None, int | None]:
        page = int(cursor.get("page") or 1)
        size = int(cursor.get("size") or self.page_size)  # a run keeps the page size it began with
        body = self._get(path, {**params, "page": page, "limit": size}) or {}
        pagination = (body.get("meta") or {}).get("pagination") or {}
        current = int(pagination.get("current_page") or page)
        pages = int(pagination.get("total_pages") or 0)
        total = pagination.get("total")
        return (
            list(body.get("data") or []),
            {"page": current + 1, "size": size} if current < pages else None,
            int(total) if total is not None else None,
        )

    def _all_pages(self, path: str, params: dict[str, Any]) -> list[Any]:
        """Every row of a small V2 list (an order's products): bare arrays, 204 when empty."""
        rows: list[Any] = []
        page = 1
        while True:
            batch = self._get(path, {**params, "page": page, "limit": MAX_PAGE_SIZE}) or []
            rows.extend(batch)
            if len(batch) < MAX_PAGE_SIZE:
                return rows
            page += 1

    def _storefront(self) -> str:
        if self._store is None:
            self._store = self._get("v2/store") or {}
        return str(self._store.get("secure_url") or "")

    # --- Adapter -----------------------------------------------------------------------------------------
    def shop(self) -> ShopInfo:
        self._store = self._get("v2/store") or {}
        return ShopInfo(
            name=str(self._store.get("name") or ""),
            currency=str(self._store.get("currency") or ""),
            domain=str(self._store.get("domain") or ""),
        )

    def fetch(self, resource: str, *, cursor: dict[str, Any], since: datetime | None) -> Page:
        if resource == "orders":
            return self._orders_page(cursor, since)
        params: dict[str, Any] = {"date_modified:min": iso(since)} if since is not None else {}
        if resource == "customers":
            rows, next_cursor, total = self._v3_page("v3/customers", params, cursor)
            return Page([customer_from_v3(c) for c in rows], next_cursor, total)
        if resource not in ("products", "inventory"):
            raise PlatformError(f"BigCommerce has no {resource!r} to fetch")
        params.update({"include": "variants", "sort": "id", "direction": "asc"})
        rows, next_cursor, total = self._v3_page("v3/catalog/products", params, cursor)
        storefront = self._storefront() if resource == "products" else ""
        products = [product_from_v3(p, storefront) for p in rows]
        if resource == "products":
            return Page(list(products), next_cursor, total)
        return Page([level for p in products for level in levels_of(p)], next_cursor)

    def _orders_page(self, cursor: Mapping[str, Any], since: datetime | None) -> Page:
        page = int(cursor.get("page") or 1)
        size = int(cursor.get("size") or self.page_size)  # a run keeps the page size it began with
        params: dict[str, Any] = {"page": page, "limit": size}
        if since is not None:
            params["min_date_modified"] = rfc2822(since)
        orders = self._get("v2/orders", params) or []  # 204: past the last page
        records = [self._order_with_details(o) for o in orders]
        return Page(list(records), {"page": page + 1, "size": size} if len(orders) >= size else None)

    def _order_with_details(self, order: Mapping[str, Any]) -> OrderInput:
        """An order with its line items (one call) and, when it has refunded anything, its refunds (one
        more): at most two calls per order, so a page costs at most ``2 * page_size + 1``."""
        oid = int(order["id"])
        lines = self._all_pages(f"v2/orders/{oid}/products", {})
        refunds: list[Any] = []
        if money(order.get("refunded_amount")) > 0:
            body = self._get(f"v3/orders/{oid}/payment_actions/refunds") or {}
            refunds = list(body.get("data") or [])
        return order_from_v2(order, lines, refunds)

    def register_webhooks(self, *, address: str) -> list[str]:
        """One active hook per scope to ``address``: existing ones are kept (and re-activated when
        BigCommerce deactivated them after failing deliveries), missing ones are created."""
        existing: dict[str, dict[str, Any]] = {}
        cursor: dict[str, Any] | None = {}
        while cursor is not None:
            rows, cursor, _ = self._v3_page("v3/hooks", {}, cursor)
            for hook in rows:
                if hook.get("destination") == address:
                    existing[str(hook.get("scope"))] = hook
        registered = []
        for scope in WEBHOOK_TOPICS:
            hook = existing.get(scope)
            if hook is None:
                self._call(
                    "POST", "v3/hooks", json={"scope": scope, "destination": address, "is_active": True}
                )
            elif not hook.get("is_active"):
                self._call("PUT", f"v3/hooks/{int(hook['id'])}", json={"is_active": True})
            registered.append(scope)
        return registered

    # --- webhooks: thin callbacks name the resource, which is fetched ----------------------------------
    def records_of(self, delivery: Delivery) -> list[Any]:
        payload = delivery.payload if isinstance(delivery.payload, dict) else {}
        data = payload.get("data") or {}
        rid = data.get("id")
        if rid is None:
            return []
        topic = delivery.topic
        if topic in _ORDER_TOPICS:
            order = self._get_or_none(f"v2/orders/{int(rid)}")
            return [self._order_with_details(order)] if order else []
        if topic == "products/delete":
            return [ProductInput(platform_id=str(rid), title="", deleted=True)]
        if topic in ("products/create", "products/update"):
            product = self.product(int(rid))
            return [product or ProductInput(platform_id=str(rid), title="", deleted=True)]
        if topic == "inventory_levels/update":
            return self._levels_of_callback(data)
        if topic in ("customers/create", "customers/update"):
            rows = (self._get("v3/customers", {"id:in": int(rid)}) or {}).get("data") or []
            return [customer_from_v3(c) for c in rows]
        return []

    def _levels_of_callback(self, data: Mapping[str, Any]) -> list[InventoryInput]:
        """``store/product/inventory/updated`` names the product; ``store/sku/inventory/updated`` names
        a SKU with its ``product_id`` and ``variant_id``. The levels are read from the product, since
        the callback's ``value`` is a change, not a level."""
        detail = data.get("inventory") or data.get("sku") or {}
        if data.get("type") == "product":
            product_id, variant_id = data.get("id"), ""
        else:
            product_id, variant_id = detail.get("product_id"), str(detail.get("variant_id") or "")
        if product_id is None:
            return []  # a SKU callback without its product: the scheduled inventory sync covers it
        product = self.product(int(product_id))
        return levels_of(product, variant_id=variant_id) if product else []

    def product(self, product_id: int) -> ProductInput | None:
        body = self._get_or_none(f"v3/catalog/products/{product_id}", {"include": "variants"})
        if not body or not body.get("data"):
            return None
        return product_from_v3(body["data"], self._storefront())
