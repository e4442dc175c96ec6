"""WooCommerce: the REST API v3 (``/wp-json/wc/v3``) of one WordPress site (api-contracts.md §2).

Auth: HTTP Basic with the consumer key and secret over HTTPS. Over plain HTTP (the loopback fake, a
shop without TLS) WooCommerce takes one-legged OAuth 1.0a in the query string: HMAC-SHA256 keyed
with ``consumer_secret + "&"`` (V9). Every attempt is signed afresh, because WooCommerce refuses a
nonce it has already seen and a retried request would otherwise be a replay.

Lists are read ``orderby=id&order=asc`` with ``page``/``per_page`` (at most 100), so a page number
keeps naming the same rows while new ones are appended; ``X-WP-Total``/``X-WP-TotalPages`` say how
many there are. Incremental runs send ``modified_after`` with ``dates_are_gmt=true`` (orders,
products). Customers have no date filter, so they are read whole and filtered here on
``date_modified_gmt``. Every date read is a ``_gmt`` field: UTC, written without an offset.

Calls per page stay bounded. A page of orders costs one ``GET /refunds?include=…`` (WooCommerce 9.0+)
for the dates of its refunds, which the order payload lacks (id and negative ``total`` only). An
older shop answers 404 there, and is then asked ``GET /orders/{id}/refunds`` for each order of the
page that has refunds. A page of products costs one ``GET /products/{id}/variations`` per variable
product.

Ids are the platform's integers as strings. A simple product is one variant whose id is the
product's, which is also what its order lines name (``variation_id`` 0).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from apps.core.money import to_cents
from apps.stores.integrations.base import (
    AuthExpired,
    Delivery,
    HttpClient,
    Page,
    PlatformError,
    ShopInfo,
    money,
)
from apps.stores.integrations.versions import WOOCOMMERCE_API_VERSION
from apps.stores.services.catalog import InventoryInput, ProductInput, VariantInput
from apps.stores.services.orders import CustomerInput, OrderInput, OrderItemInput, RefundInput

PAGE_SIZE = 100
MAX_PAGE_SIZE = 100  # WordPress refuses more with 400 rest_invalid_param
WEBHOOK_TOPICS = {
    # WooCommerce topic (X-WC-Webhook-Topic) → our normalised topic
    "order.created": "orders/create",
    "order.updated": "orders/updated",
    "order.deleted": "orders/delete",
    "product.created": "products/create",
    "product.updated": "products/update",
    "product.deleted": "products/delete",
    "customer.created": "customers/create",
    "customer.updated": "customers/update",
}
# WooCommerce's order attribution (meta_data of the order): the landing URL and the referrer.
LANDING_META = "_wc_order_attribution_session_entry"
REFERRER_META = "_wc_order_attribution_referrer"

# How WordPress and WooCommerce say "that page is past the end" (400).
_PAST_THE_END = (
    "woocommerce_rest_invalid_page_number",
    "rest_post_invalid_page_number",
    "rest_invalid_page_number",
)
_STATUS_FINANCIAL = {
    "pending": "pending",
    "checkout-draft": "pending",
    "on-hold": "authorized",  # awaiting payment confirmation, or authorised and not captured
    "processing": "paid",
    "completed": "paid",
    "refunded": "refunded",
    "cancelled": "voided",
    "failed": "voided",
    "trash": "voided",
}
# Not a sale: these orders get ``cancelled_at`` (their last modification).
_NOT_A_SALE = ("cancelled", "failed", "trash")
# Path segments that are WordPress itself, not a directory WordPress is installed in.
_WORDPRESS_SEGMENTS = {"wp-json", "wp-admin", "wp-content", "wp-includes", "wc-api", "wc-auth"}
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")


# --- OAuth 1.0a over plain HTTP (api-contracts.md §2, vector V9) ------------------------------------
def _rfc3986(value: str) -> str:
    return quote(value, safe="")


def oauth1_base_string(method: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """``METHOD&enc(url)&enc(k=v&… sorted)``: keys and values encoded (RFC 3986), then sorted."""
    items = params.items() if isinstance(params, Mapping) else params
    pairs = sorted((_rfc3986(str(k)), _rfc3986(str(v))) for k, v in items if k != "oauth_signature")
    normalised = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), _rfc3986(url), _rfc3986(normalised)))


def oauth1_signature(
    method: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]], consumer_secret: str
) -> str:
    """``oauth_signature``: base64 HMAC-SHA256 of the base string, keyed ``consumer_secret&``."""
    digest = hmac.new(
        f"{consumer_secret}&".encode(), oauth1_base_string(method, url, params).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class OAuth1Query(AuthBase):
    """Signs each prepared request in its query string (``requests`` applies auth on every attempt,
    so a retry carries a new nonce and timestamp). The secret never leaves this object."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self.clock = clock
        self.nonce = nonce

    def __repr__(self) -> str:
        return f"OAuth1Query(consumer_key={self.consumer_key!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        params = [
            (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("oauth_")
        ]
        params += [
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", self.nonce()),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", str(int(self.clock()))),
        ]
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        params.append(
            ("oauth_signature", oauth1_signature(request.method or "GET", url, params, self._consumer_secret))
        )
        request.url = f"{url}?{urlencode(params, quote_via=quote)}"
        return request


# --- payloads → records --------------------------------------------------------------------------
def _dt(value: Any) -> datetime | None:
    """A WooCommerce date as aware UTC: the ``_gmt`` fields carry no offset and are UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _meta(payload: Mapping[str, Any], key: str) -> str:
    for entry in payload.get("meta_data") or []:
        if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("value"), str):
            return str(entry["value"])
    return ""


def _financial(status: str, total: Decimal, refunded: Decimal) -> str:
    if status == "refunded" or (refunded > 0 and refunded >= total):
        return "refunded"
    if refunded > 0:
        return "partially_refunded"
    return _STATUS_FINANCIAL.get(status, "paid")  # a plugin's own statuses come after payment


def _line(li: Mapping[str, Any]) -> OrderItemInput:
    """``subtotal`` is the line before discounts, ``total`` after (both without tax)."""
    quantity = int(li.get("quantity") or 0)
    subtotal = money(li.get("subtotal"))
    price = to_cents(subtotal / quantity) if quantity else money(li.get("price"))
    product_id = int(li.get("product_id") or 0)
    variation_id = int(li.get("variation_id") or 0)
    return OrderItemInput(
        platform_id=str(li["id"]),
        quantity=quantity,
        price=price,
        discount=subtotal - money(li.get("total")),
        sku=li.get("sku") or "",
        title=li.get("name") or "",
        product_platform_id=str(product_id) if product_id else "",
        variant_platform_id=str(variation_id or product_id) if (variation_id or product_id) else "",
    )


def order_from_rest(p: Mapping[str, Any], refund_dates: Mapping[str, datetime] | None = None) -> OrderInput:
    """An order of ``GET /orders`` (or a webhook). A refund's date comes from ``refund_dates`` (by
    refund id); a refund missing there is dated by the order's last modification."""
    placed = _dt(p.get("date_created_gmt"))
    if placed is None:
        raise PlatformError(f"WooCommerce order {p.get('id')} has no date_created_gmt")
    modified = max(_dt(p.get("date_modified_gmt")) or placed, placed)
    status = str(p.get("status") or "")
    total = money(p.get("total"))
    dates = refund_dates or {}
    refunds = tuple(
        RefundInput(str(r["id"]), abs(money(r.get("total"))), dates.get(str(r["id"])) or modified)
        for r in p.get("refunds") or []
    )
    refunded = sum((r.amount for r in refunds), Decimal("0.00"))
    lines = tuple(_line(li) for li in p.get("line_items") or [])
    customer_id = int(p.get("customer_id") or 0)  # 0: a guest
    billing = p.get("billing") or {}
    return OrderInput(
        platform_id=str(p["id"]),
        number=f"#{p.get('number') or p['id']}",
        placed_at=placed,
        platform_updated_at=modified,
        processed_at=_dt(p.get("date_paid_gmt")),
        cancelled_at=modified if status in _NOT_A_SALE else None,
        currency=p.get("currency") or None,
        subtotal=sum((li.price * li.quantity for li in lines), Decimal("0.00")),
        tax=money(p.get("total_tax")),
        shipping=money(p.get("shipping_total")),
        discount=money(p.get("discount_total")),
        total=total,
        financial_status=_financial(status, total, refunded),
        fulfillment_status="fulfilled" if status == "completed" else "unfulfilled",
        customer=CustomerInput(platform_id=str(customer_id), email=billing.get("email") or None)
        if customer_id
        else None,
        landing_site=_meta(p, LANDING_META),
        referrer=_meta(p, REFERRER_META),
        items=lines,
        refunds=refunds,
    )


def customer_from_rest(p: Mapping[str, Any]) -> CustomerInput:
    """WooCommerce keeps no marketing consent of its own, so ``accepts_marketing`` is not sent."""
    return CustomerInput(
        platform_id=str(p["id"]),
        email=p.get("email") or (p.get("billing") or {}).get("email") or "",
        first_name=p.get("first_name") or "",
        last_name=p.get("last_name") or "",
    )


def _stock(item: Mapping[str, Any]) -> int | None:
    """``manage_stock`` false: not tracked. A variation's ``"parent"`` is tracked (on its product)."""
    if item.get("manage_stock") in (False, None, ""):
        return None
    quantity = item.get("stock_quantity")
    return None if quantity is None else int(quantity)


def _variation_title(v: Mapping[str, Any]) -> str:
    options = [str(a["option"]) for a in v.get("attributes") or [] if isinstance(a, dict) and a.get("option")]
    return " / ".join(options) or v.get("name") or ""


def is_variable(p: Mapping[str, Any]) -> bool:
    """``variable`` (and plugins' ``variable-subscription``): the variants are the variations."""
    return str(p.get("type") or "").startswith("variable")


def product_from_rest(p: Mapping[str, Any], variations: list[dict[str, Any]] | None) -> ProductInput:
    """A product; ``variations`` are a variable product's (``None``: it is its own single variant)."""
    if variations is None:
        variants: tuple[VariantInput, ...] = (
            VariantInput(
                platform_id=str(p["id"]),
                sku=p.get("sku") or "",
                title=p.get("name") or "",
                price=money(p.get("price")),
                inventory_quantity=_stock(p),
            ),
        )
    else:
        variants = tuple(
            VariantInput(
                platform_id=str(v["id"]),
                sku=v.get("sku") or "",
                title=_variation_title(v),
                price=money(v.get("price")),
                inventory_quantity=_stock(v),
            )
            for v in variations
        )
    return ProductInput(
        platform_id=str(p["id"]),
        title=p.get("name") or "",
        url=p.get("permalink") or "",
        deleted=p.get("status") == "trash",
        platform_updated_at=_dt(p.get("date_modified_gmt")),
        variants=variants,
    )


def _since_params(since: datetime | None) -> dict[str, str]:
    if since is None:
        return {}
    return {"modified_after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true"}


def _changed_since(row: Mapping[str, Any], since: datetime | None) -> bool:
    stamp = _dt(row.get("date_modified_gmt")) or _dt(row.get("date_created_gmt"))
    return since is None or stamp is None or stamp >= since


def _header_int(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


# --- the adapter ---------------------------------------------------------------------------------
class WooCommerceAdapter:
    """One WooCommerce shop. ``store_url`` is the WordPress site (``https://shop.example``, or a
    sub-path WordPress is installed in); ``webhook_secret`` is the store's, for ``register_webhooks``."""

    def __init__(
        self,
        *,
        store_url: str,
        consumer_key: str,
        consumer_secret: str,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = PAGE_SIZE,
        webhook_secret: str = "",
    ) -> None:
        self.store_url = store_url.strip().rstrip("/")
        self.http = HttpClient(
            base_url=f"{self.store_url}/wp-json/{WOOCOMMERCE_API_VERSION}",
            headers={"Accept": "application/json"},
            sleep=sleep,
        )
        self.auth: AuthBase = (
            HTTPBasicAuth(consumer_key, consumer_secret)
            if urlsplit(self.store_url).scheme.lower() == "https"
            else OAuth1Query(consumer_key, consumer_secret)
        )
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self.webhook_secret = webhook_secret
        self._refunds_listed = True  # GET /refunds exists (WooCommerce 9.0+) until it answers 404

    # --- HTTP ------------------------------------------------------------------------------------------
    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> requests.Response:
        return self.http.request(method, path, params=params, json=json, auth=self.auth)

    def _page(
        self, path: str, params: Mapping[str, Any], page: int, per_page: int | None = None
    ) -> tuple[list[dict[str, Any]], int | None, bool]:
        """One page: its rows, ``X-WP-Total``, and whether another page follows."""
        per_page = per_page or self.page_size
        try:
            response = self._call("GET", path, params={**params, "page": page, "per_page": per_page})
        except PlatformError as exc:
            if exc.status == 400 and any(code in str(exc) for code in _PAST_THE_END):
                return [], None, False
            raise
        rows = response.json()
        if not isinstance(rows, list):
            raise PlatformError(f"GET {path}: expected a list, got {type(rows).__name__}")
        pages = _header_int(response, "X-WP-TotalPages")
        more = bool(rows) and (page < pages if pages is not None else len(rows) >= per_page)
        return rows, _header_int(response, "X-WP-Total"), more

    def _all(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        page, more = 1, True
        while more:
            rows, _, more = self._page(path, params, page, MAX_PAGE_SIZE)
            yield from rows
            page += 1

    # --- Adapter protocol ------------------------------------------------------------------------------
    def shop(self) -> ShopInfo:
        """The currency from WooCommerce's general settings (authenticated: this checks the keys),
        the name from the WordPress index (public; the host when it does not say)."""
        currency = self._call("GET", "settings/general/woocommerce_currency").json().get("value") or ""
        return ShopInfo(name=self._site_name(), currency=str(currency).upper(), domain=self.store_url)

    def _site_name(self) -> str:
        host = urlsplit(self.store_url).hostname or self.store_url
        try:
            index = self.http.request("GET", f"{self.store_url}/wp-json/", params={"_fields": "name"}).json()
        except (PlatformError, ValueError):
            return host
        name = index.get("name") if isinstance(index, dict) else None
        return str(name).strip() if name and str(name).strip() else host

    def fetch(self, resource: str, *, cursor: dict[str, Any], since: datetime | None) -> Page:
        page = int(cursor.get("page") or 1)
        # A page number means something only with its page size: a run keeps the size it began with,
        # so a worker resuming it with other settings neither skips nor repeats orders.
        size = int(cursor.get("size") or self.page_size)
        by_id = {"orderby": "id", "order": "asc"}
        records: list[Any]
        if resource == "customers":
            rows, total, more = self._page("customers", by_id, page, size)
            records = [customer_from_rest(r) for r in rows if _changed_since(r, since)]
        elif resource == "orders":
            rows, total, more = self._page("orders", {**by_id, **_since_params(since)}, page, size)
            records = self._orders(rows)
        elif resource in ("products", "inventory"):
            rows, total, more = self._page("products", {**by_id, **_since_params(since)}, page, size)
            products = [self._product(r) for r in rows]
            records = (
                list(products)
                if resource == "products"
                else [
                    InventoryInput(quantity=v.inventory_quantity, variant_platform_id=v.platform_id)
                    for p in products
                    for v in p.variants
                ]
            )
        else:
            raise ValueError(f"WooCommerce has no resource {resource!r}")
        return Page(records, {"page": page + 1, "size": size} if more else None, total)

    def _orders(self, rows: list[dict[str, Any]]) -> list[OrderInput]:
        dates = self._refund_dates(rows)
        return [order_from_rest(r, dates) for r in rows]

    def _refund_dates(self, orders: list[dict[str, Any]]) -> dict[str, datetime]:
        """The refunds' ``date_created_gmt`` by refund id, for the refunds these orders list: one
        ``GET /refunds?include=…`` per 100 refunds, then ``GET /orders/{id}/refunds`` for the orders
        whose refunds it did not return (every one of them before WooCommerce 9.0)."""
        order_of = {str(r["id"]): str(o["id"]) for o in orders for r in o.get("refunds") or []}
        dates: dict[str, datetime] = {}
        if order_of and self._refunds_listed:
            ids = sorted(order_of, key=int)
            try:
                for start in range(0, len(ids), MAX_PAGE_SIZE):
                    chunk = ids[start : start + MAX_PAGE_SIZE]
                    rows, _, _ = self._page("refunds", {"include": ",".join(chunk)}, 1, MAX_PAGE_SIZE)
                    dates.update(_refund_dates(rows))
            except PlatformError as exc:
                if exc.status != 404:
                    raise
                self._refunds_listed = False  # before WooCommerce 9.0: no GET /refunds
        for order_id in dict.fromkeys(order_of[r] for r in order_of if r not in dates):
            dates.update(_refund_dates(self._all(f"orders/{order_id}/refunds", {})))
        return dates

    def _product(self, row: dict[str, Any]) -> ProductInput:
        if not is_variable(row):
            return product_from_rest(row, None)
        variations = (
            list(self._all(f"products/{int(row['id'])}/variations", {"orderby": "id", "order": "asc"}))
            if row.get("variations")
            else []
        )
        return product_from_rest(row, variations)

    def register_webhooks(self, *, address: str) -> list[str]:
        """One webhook per topic to ``address``, signed with the store's secret. Running it again
        updates the ones already there (secret, status ``active``) instead of adding duplicates."""
        if not self.webhook_secret:
            raise PlatformError("the store has no webhook secret; WooCommerce would sign with one of its own")
        existing = {
            w["topic"]: w
            for w in self._all("webhooks", {"status": "all"})
            if w.get("delivery_url") == address and w.get("topic") in WEBHOOK_TOPICS
        }
        registered = []
        for topic in WEBHOOK_TOPICS:
            body = {"name": f"KIKI {topic}", "secret": self.webhook_secret, "status": "active"}
            if topic in existing:
                self._call("PUT", f"webhooks/{int(existing[topic]['id'])}", json=body)
            else:
                self._call("POST", "webhooks", json={**body, "topic": topic, "delivery_url": address})
            registered.append(topic)
        return registered

    def records_of(self, delivery: Delivery) -> list[Any]:
        """The payload is the resource's v3 representation (``{"id"}`` only for ``*.deleted``). Calls
        made: the refunds' dates of an order, the variations of a variable product, the product a
        variation belongs to, and the order a deletion names (a trashed order is still there)."""
        p = delivery.payload
        topic = delivery.topic
        if topic in ("orders/create", "orders/updated"):
            return self._orders([p])
        if topic == "orders/delete":
            try:
                order = self._call("GET", f"orders/{int(p['id'])}").json()
            except PlatformError as exc:
                if exc.status == 404:
                    return []  # deleted for good: nothing left to read
                raise
            return self._orders([order])
        if topic in ("products/create", "products/update"):
            if p.get("type") == "variation" and p.get("parent_id"):
                p = self._call("GET", f"products/{int(p['parent_id'])}").json()
            return [self._product(p)]
        if topic == "products/delete":
            return [ProductInput(platform_id=str(p["id"]), title="", deleted=True)]
        if topic in ("customers/create", "customers/update"):
            return [customer_from_rest(p)]
        return []


def _refund_dates(rows: Iterable[Mapping[str, Any]]) -> dict[str, datetime]:
    found = {str(r["id"]): _dt(r.get("date_created_gmt")) for r in rows}
    return {k: v for k, v in found.items() if v is not None}


# --- connecting ----------------------------------------------------------------------------------
def store_url_check(store_url: str) -> str:
    """The site's root URL, normalised (lower-case host, no trailing slash). ``http`` or ``https``;
    a path only when it is the directory WordPress is installed in (``https://example.com/shop``),
    not WordPress's own (``/wp-json/…``, ``/wp-admin``) nor a file; no query, fragment or login."""
    raw = (store_url or "").strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise PlatformError(f"{raw!r} is not a URL.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PlatformError("The store URL starts with https:// (or http://) and names the site's host.")
    if parts.username or parts.password:
        raise PlatformError(
            "The store URL must not carry a user name or password; paste the API keys instead."
        )
    if parts.query or parts.fragment:
        raise PlatformError("The store URL is the site's address, without ?query or #fragment.")
    segments = [s for s in parts.path.split("/") if s]
    for segment in segments:
        if (
            segment.lower() in _WORDPRESS_SEGMENTS
            or segment.lower().endswith(".php")
            or not _SEGMENT.match(segment)
        ):
            raise PlatformError(
                "The store URL is the site's address (https://shop.example, or the folder WordPress "
                f"is installed in), not a page or API path: {segment!r} is not allowed."
            )
    netloc = parts.hostname.lower() + (f":{port}" if port is not None else "")
    path = "/" + "/".join(segments) if segments else ""
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


def connect_check(*, store_url: str, consumer_key: str, consumer_secret: str) -> ShopInfo:
    """Check a URL and pasted keys before a store is saved: one authenticated call (and the public
    WordPress index for the site's name). Errors say what to fix and never repeat the keys."""
    url = store_url_check(store_url)
    if not consumer_key.strip() or not consumer_secret.strip():
        raise PlatformError("Paste both the consumer key (ck_…) and the consumer secret (cs_…).")
    adapter = WooCommerceAdapter(
        store_url=url, consumer_key=consumer_key.strip(), consumer_secret=consumer_secret.strip()
    )
    adapter.http.max_attempts = 3  # an Admin is waiting
    try:
        return adapter.shop()
    except AuthExpired:
        raise PlatformError(
            f"WooCommerce at {url} refused the keys (401): check the consumer key and secret, and that "
            "the key has Read (or Read/Write) permission.",
            status=401,
        ) from None
    except PlatformError as exc:
        if exc.status == 404:
            raise PlatformError(
                f"No WooCommerce REST API answered at {url}/wp-json/{WOOCOMMERCE_API_VERSION} (404): check "
                "the URL, that WooCommerce is active, and that permalinks are not 'Plain'.",
                status=404,
            ) from None
        if exc.status == 403:
            raise PlatformError(
                f"WooCommerce at {url} accepted the keys but refused to read the settings (403): give the "
                "key Read permission for a user who can manage WooCommerce.",
                status=403,
            ) from None
        raise
