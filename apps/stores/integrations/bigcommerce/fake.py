"""A loopback BigCommerce, written from api-contracts.md §3 (not from our adapter): stores by hash under
``/stores/{hash}/v2|v3/…`` and the login host's ``/oauth2/token`` on the same server.

- ``X-Auth-Token`` is checked on every store call (401 otherwise).
- V3 lists answer ``{"data": […], "meta": {"pagination": …}}`` (``page``, ``limit`` up to 250,
  ``date_modified:min``, ``id:in``); V2 orders answer bare arrays sorted by id with RFC-2822 dates and
  money strings of four decimals (``'361.9500'``), and 204 No Content for an empty page.
- Every store answer carries the rate-limit headers; the quota is per store and per 30 s window (on
  an injectable clock, so a test's sleep can move time), and a spent quota answers 429.
- Hooks are created, listed and updated; ``signed_delivery`` builds the thin callback body, signed
  with Standard Webhooks headers keyed by the client secret, and ``deliver`` POSTs it to the hook.
- OAuth: ``authorization_code`` and the token exchange, ``signed_payload_jwt`` for load/uninstall.
  ``GET /app/{client_id}/install`` plays the external install: the merchant (signed in, with
  ``installing`` as the store they pick) approves, and the browser is sent to the app's auth callback
  (``auth_callback_url``) with ``code``, ``context``, ``scope`` and ``account_uuid``. The load and
  uninstall callbacks are the control panel's requests: ``load_query`` gives their query.

Point ``KIKI_BIGCOMMERCE_API_BASE`` and ``KIKI_BIGCOMMERCE_LOGIN_BASE`` at ``server.url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import requests

from apps.stores.integrations.fakes.server import FakeServer, Reply, Request
from apps.stores.integrations.fakes.store import (
    FakeCustomer,
    FakeLine,
    FakeOrder,
    FakeProduct,
    FakeRefund,
    FakeStore,
)
from apps.stores.integrations.signatures import standard_webhook_signature

MAX_LIMIT = 250
WINDOW_MS = 30000
_STORE_PATH = re.compile(r"^/stores/([^/]+)/(v2|v3)(/.*)$")


def _rfc2822(value: datetime | None) -> str:
    return format_datetime(value.astimezone(UTC)) if value else ""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _money(amount: Decimal) -> str:
    return f"{amount:.4f}"


def _number(amount: Decimal) -> float:
    """V3 sends money as JSON numbers; a cent amount's float prints back as the same decimal."""
    return float(amount)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _since(text: str | None) -> datetime | None:
    """``min_date_modified`` / ``date_modified:min``: RFC-2822, ISO-8601 (date or date-time) or a unix
    timestamp."""
    if not text:
        return None
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _limit(request: Request) -> int:
    return max(1, min(MAX_LIMIT, int(request.arg("limit") or 50)))


def _page(request: Request) -> int:
    return max(1, int(request.arg("page") or 1))


def _ids(request: Request) -> set[int] | None:
    raw = request.arg("id:in")
    return {int(x) for x in raw.split(",") if x.strip()} if raw else None


def _v3_error(status: int, title: str) -> Reply:
    return Reply(
        status,
        {
            "status": status,
            "title": title,
            "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
        },
    )


def _v2_error(status: int, message: str) -> Reply:
    return Reply(status, [{"status": status, "message": message}])


@dataclass
class Hook:
    id: int
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str] | None
    created_at: int
    updated_at: int


@dataclass
class FakeBCStore:
    store_hash: str
    store_id: str
    store: FakeStore
    quota: int
    tokens: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    hooks: list[Hook] = field(default_factory=list)
    untracked: set[int] = field(default_factory=set)  # product ids rendered with inventory_tracking "none"
    window_start: float = 0.0
    used: int = 0
    served_429: int = 0


class FakeBigCommerce:
    """The app behind a ``FakeServer``; one or more stores by hash."""

    def __init__(
        self,
        *,
        client_id: str = "fake-bc-client-id",
        client_secret: str = "fake-bc-client-secret",  # noqa: S107 - the fake app's, known to tests and the sandbox
        quota: int = 150,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.quota = quota
        self.clock = clock
        self.stores: dict[str, FakeBCStore] = {}
        self.auth_callback_url = ""  # the app's auth callback, as configured in the Developer Portal
        self.installing = ""  # the store the merchant picks on the install page
        self.app_scope = "store_v2_orders_read_only store_v2_products_read_only store_v2_customers_read_only"
        self.lock = threading.RLock()
        self.server = FakeServer(self)

    # --- set-up --------------------------------------------------------------------------------------
    def add_store(self, store_hash: str, store: FakeStore, *, quota: int | None = None) -> FakeBCStore:
        bc = FakeBCStore(
            store_hash=store_hash,
            store_id=str(1000000 + len(self.stores) + 1),
            store=store,
            quota=quota if quota is not None else self.quota,
            window_start=self.clock(),
        )
        self.stores[store_hash] = bc
        return bc

    def grant_token(self, store_hash: str) -> str:
        """A token as the install would give it (for tests that do not go through OAuth)."""
        token = secrets.token_hex(16)
        self.stores[store_hash].tokens.add(token)
        return token

    def revoke_tokens(self, store_hash: str) -> None:
        self.stores[store_hash].tokens.clear()

    def spend(self, store_hash: str, requests_made: int) -> None:
        """Other apps on the store use the shared quota."""
        with self.lock:
            bc = self.stores[store_hash]
            self._roll_window(bc)
            bc.used = min(bc.quota, bc.used + requests_made)

    def authorization_code(self, store_hash: str) -> str:
        """What BigCommerce puts in the auth callback (with ``context=stores/{hash}``)."""
        code = secrets.token_hex(12)
        self.stores[store_hash].codes.add(code)
        return code

    def signed_payload_jwt(self, store_hash: str, *, now: float | None = None, **claims: Any) -> str:
        """The ``signed_payload_jwt`` of a load/uninstall callback (HS256, client secret); ``claims``
        override the standard ones (for tests of bad tokens)."""
        issued = int(time.time() if now is None else now)
        body = {
            "aud": self.client_id,
            "iss": "bc",
            "iat": issued,
            "nbf": issued - 5,
            "exp": issued - 5 + 86400,
            "jti": secrets.token_hex(16),
            "sub": f"stores/{store_hash}",
            "user": {"id": 9876543, "email": "owner@example.com", "locale": "en-US"},
            "owner": {"id": 9876543, "email": "owner@example.com"},
            "url": "/",
            "channel_id": None,
            **claims,
        }
        header = _b64url(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
        payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
        mac = hmac.new(self.client_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(mac)}"

    def load_query(self, store_hash: str, **claims: Any) -> dict[str, str]:
        """The query of a load (or uninstall) callback for ``store_hash``."""
        return {"signed_payload_jwt": self.signed_payload_jwt(store_hash, **claims)}

    def _install(self, client_id: str) -> Reply:
        if client_id != self.client_id or not self.auth_callback_url or self.installing not in self.stores:
            return Reply(404, b"<html><body>App not found.</body></html>", {"Content-Type": "text/html"})
        query = urlencode(
            {
                "account_uuid": "a6b2f4a0-0000-4000-8000-000000000001",
                "code": self.authorization_code(self.installing),
                "context": f"stores/{self.installing}",
                "scope": self.app_scope,
            }
        )
        return Reply(302, b"", {"Location": f"{self.auth_callback_url}?{query}"})

    # --- rate limits ---------------------------------------------------------------------------------
    def _roll_window(self, bc: FakeBCStore) -> None:
        now = self.clock()
        if (now - bc.window_start) * 1000 >= WINDOW_MS:
            bc.window_start, bc.used = now, 0

    def _limit_headers(self, bc: FakeBCStore) -> dict[str, str]:
        reset = max(0, int(WINDOW_MS - (self.clock() - bc.window_start) * 1000))
        return {
            "X-Rate-Limit-Time-Window-Ms": str(WINDOW_MS),
            "X-Rate-Limit-Time-Reset-Ms": str(reset),
            "X-Rate-Limit-Requests-Quota": str(bc.quota),
            "X-Rate-Limit-Requests-Left": str(max(0, bc.quota - bc.used)),
        }

    # --- the app -------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        if request.path == "/oauth2/token":
            return self._token(request) if request.method == "POST" else Reply(405, {"error": "POST only"})
        install = re.fullmatch(r"/app/([^/]+)/install", request.path)
        if install and request.method == "GET":
            return self._install(install.group(1))
        match = _STORE_PATH.match(request.path)
        if not match or match.group(1) not in self.stores:
            return _v3_error(404, "Store not found")
        bc, version, path = self.stores[match.group(1)], match.group(2), match.group(3)
        with self.lock:
            self._roll_window(bc)
            if bc.used >= bc.quota:
                bc.served_429 += 1
                reply = _v3_error(429, "Too many requests")
                reply.headers.update(self._limit_headers(bc))
                return reply
            bc.used += 1
            headers = self._limit_headers(bc)
        if request.headers.get("x-auth-token", "") not in bc.tokens:
            reply = _v3_error(401, "Unauthorized: the X-Auth-Token is missing or invalid")
        elif version == "v2":
            reply = self._v2(bc, request, path)
        else:
            reply = self._v3(bc, request, path)
        reply.headers.update(headers)
        return reply

    def _token(self, request: Request) -> Reply:
        try:
            data = request.json() or {}
        except ValueError:
            return Reply(400, {"error": "The body must be JSON"})
        if data.get("client_id") != self.client_id or data.get("client_secret") != self.client_secret:
            return Reply(401, {"error": "Invalid client id or secret"})
        context = str(data.get("context") or "")
        bc = self.stores.get(context.removeprefix("stores/")) if context.startswith("stores/") else None
        if (
            data.get("grant_type") != "authorization_code"
            or not data.get("redirect_uri")
            or not data.get("scope")
        ):
            return Reply(400, {"error": "grant_type, redirect_uri and scope are required"})
        if bc is None or data.get("code") not in bc.codes:
            return Reply(400, {"error": "Invalid code"})
        bc.codes.discard(data["code"])
        token = self.grant_token(bc.store_hash)
        return Reply(
            200,
            {
                "access_token": token,
                "scope": data["scope"],
                "user": {"id": 24654, "username": "merchant", "email": "merchant@example.com"},
                "owner": {"id": 24654, "username": "merchant", "email": "merchant@example.com"},
                "context": f"stores/{bc.store_hash}",
                "account_uuid": "a6b2f4a0-0000-4000-8000-000000000001",
            },
        )

    # --- V2 ------------------------------------------------------------------------------------------
    def _v2(self, bc: FakeBCStore, request: Request, path: str) -> Reply:
        store = bc.store
        if path == "/store" and request.method == "GET":
            domain = f"{store.domain}.mybigcommerce.com"
            return Reply(
                200,
                {
                    "id": bc.store_hash,
                    "domain": domain,
                    "secure_url": f"https://{domain}",
                    "name": store.name,
                    "currency": store.currency,
                    "currency_symbol": "$",
                    "timezone": {"name": "Etc/UTC", "raw_offset": 0},
                    "plan_name": "Standard",
                },
            )
        if path == "/orders" and request.method == "GET":
            since = _since(request.arg("min_date_modified"))
            with store.lock:
                orders = sorted(store.orders, key=lambda o: o.id)
            if since is not None:
                orders = [o for o in orders if o.updated_at >= since]
            limit, page = _limit(request), _page(request)
            chunk = orders[(page - 1) * limit : page * limit]
            if not chunk:
                return Reply(204, None)
            return Reply(200, [self._order(bc, o) for o in chunk])
        match = re.fullmatch(r"/orders/(\d+)(/products)?", path)
        if match and request.method == "GET":
            order = store.orders_by_id.get(int(match.group(1)))
            if order is None:
                return _v2_error(404, "The requested resource was not found.")
            if not match.group(2):
                return Reply(200, self._order(bc, order))
            limit, page = _limit(request), _page(request)
            lines = order.lines[(page - 1) * limit : page * limit]
            if not lines:
                return Reply(204, None)
            return Reply(200, [self._line(order, n) for n in lines])
        return _v2_error(404, "The requested resource was not found.")

    @staticmethod
    def _status(o: FakeOrder) -> tuple[int, str, str]:
        if o.cancelled_at is not None and not o.refunds:
            return 5, "Cancelled", "void"
        if o.refunds and o.refunded >= o.total:
            return 4, "Refunded", "refunded"
        if o.refunds:
            return 14, "Partially Refunded", "partially refunded"
        if o.fulfilled:
            return 10, "Completed", "captured"
        return 11, "Awaiting Fulfillment", "captured"

    def _order(self, bc: FakeBCStore, o: FakeOrder) -> dict[str, Any]:
        store = bc.store
        customer = store.customer(o.customer_id)
        status_id, status, payment = self._status(o)
        quantity = sum(n.quantity for n in o.lines)
        zero = Decimal("0")
        return {
            "id": o.id,
            "customer_id": customer.id if customer else 0,
            "date_created": _rfc2822(o.created_at),
            "date_modified": _rfc2822(o.updated_at),
            "date_shipped": _rfc2822(o.created_at) if o.fulfilled else "",
            "status_id": status_id,
            "status": status,
            "custom_status": status,
            "subtotal_ex_tax": _money(o.subtotal),
            "subtotal_inc_tax": _money(o.subtotal + o.tax),
            "subtotal_tax": _money(o.tax),
            "base_shipping_cost": _money(o.shipping),
            "shipping_cost_ex_tax": _money(o.shipping),
            "shipping_cost_inc_tax": _money(o.shipping),
            "shipping_cost_tax": _money(zero),
            "total_ex_tax": _money(o.total - o.tax),
            "total_inc_tax": _money(o.total),
            "total_tax": _money(o.tax),
            "items_total": quantity,
            "items_shipped": quantity if o.fulfilled else 0,
            "payment_method": "Credit Card",
            "payment_status": payment,
            "refunded_amount": _money(o.refunded),
            "store_credit_amount": _money(zero),
            "gift_certificate_amount": _money(zero),
            "currency_code": store.currency,
            "default_currency_code": store.currency,
            "discount_amount": _money(o.discount),
            "coupon_discount": _money(zero),
            "is_deleted": False,
            "order_source": "www",
            "billing_address": {
                "first_name": customer.first_name if customer else "Guest",
                "last_name": customer.last_name if customer else f"Shopper{o.id}",
                "email": customer.email if customer else f"guest{o.id}@example.com",
                "country_iso2": "US",
            },
            "products": {
                "url": f"https://api.bigcommerce.com/stores/{bc.store_hash}/v2/orders/{o.id}/products",
                "resource": f"/orders/{o.id}/products",
            },
        }

    @staticmethod
    def _line(o: FakeOrder, n: FakeLine) -> dict[str, Any]:
        return {
            "id": n.id,
            "order_id": o.id,
            "product_id": n.product_id,
            "variant_id": n.variant_id,
            "name": n.title,
            "sku": n.sku,
            "quantity": n.quantity,
            "base_price": _money(n.price),
            "price_ex_tax": _money(n.price),
            "price_inc_tax": _money(n.price),
            "total_ex_tax": _money(n.price * n.quantity),
            "total_inc_tax": _money(n.price * n.quantity),
            "applied_discounts": [
                {
                    "id": "discount",
                    "amount": _money(n.discount),
                    "name": "Discount",
                    "code": None,
                    "target": "order",
                }
            ]
            if n.discount
            else [],
        }

    # --- V3 ------------------------------------------------------------------------------------------
    def _v3(self, bc: FakeBCStore, request: Request, path: str) -> Reply:
        store = bc.store
        if path == "/catalog/products" and request.method == "GET":
            with store.lock:
                products = [p for p in store.products if not p.deleted]
            products = self._filtered(products, request)
            variants = "variants" in (request.arg("include") or "").split(",")
            return self._listing(request, products, lambda p: self._product(bc, p, variants=variants))
        match = re.fullmatch(r"/catalog/products/(\d+)", path)
        if match and request.method == "GET":
            product = next((p for p in store.products if p.id == int(match.group(1)) and not p.deleted), None)
            if product is None:
                return _v3_error(404, "The requested resource was not found.")
            variants = "variants" in (request.arg("include") or "").split(",")
            return Reply(200, {"data": self._product(bc, product, variants=variants), "meta": {}})
        if path == "/customers" and request.method == "GET":
            with store.lock:
                customers = list(store.customers)
            return self._listing(request, self._filtered(customers, request), self._customer)
        match = re.fullmatch(r"/orders/(\d+)/payment_actions/refunds", path)
        if match and request.method == "GET":
            order = store.orders_by_id.get(int(match.group(1)))
            if order is None:
                return _v3_error(404, "The requested resource was not found.")
            return Reply(200, {"data": [self._refund(order, r) for r in order.refunds], "meta": {}})
        if path == "/hooks":
            if request.method == "GET":
                return self._listing(request, list(bc.hooks), self._hook)
            if request.method == "POST":
                return self._create_hook(bc, request)
        match = re.fullmatch(r"/hooks/(\d+)", path)
        if match and request.method in ("GET", "PUT"):
            hook = next((h for h in bc.hooks if h.id == int(match.group(1))), None)
            if hook is None:
                return _v3_error(404, "The requested resource was not found.")
            if request.method == "PUT":
                change = request.json() or {}
                hook.is_active = bool(change.get("is_active", hook.is_active))
                hook.destination = str(change.get("destination") or hook.destination)
                hook.updated_at = int(time.time())
            return Reply(200, {"data": self._hook(hook), "meta": {}})
        return _v3_error(404, "The requested resource was not found.")

    @staticmethod
    def _filtered(items: list[Any], request: Request) -> list[Any]:
        since = _since(request.arg("date_modified:min"))
        ids = _ids(request)
        items = [
            i for i in items if (since is None or i.updated_at >= since) and (ids is None or i.id in ids)
        ]
        return sorted(items, key=lambda i: i.id)

    @staticmethod
    def _listing(request: Request, items: list[Any], render: Callable[[Any], dict[str, Any]]) -> Reply:
        limit, page = _limit(request), _page(request)
        total = len(items)
        pages = (total + limit - 1) // limit
        chunk = items[(page - 1) * limit : page * limit]
        links: dict[str, str] = {"current": f"?page={page}&limit={limit}"}
        if page > 1:
            links["previous"] = f"?page={page - 1}&limit={limit}"
        if page < pages:
            links["next"] = f"?page={page + 1}&limit={limit}"
        pagination = {
            "total": total,
            "count": len(chunk),
            "per_page": limit,
            "current_page": page,
            "total_pages": pages,
            "links": links,
        }
        return Reply(200, {"data": [render(i) for i in chunk], "meta": {"pagination": pagination}})

    @staticmethod
    def _product(bc: FakeBCStore, p: FakeProduct, *, variants: bool) -> dict[str, Any]:
        tracking = "none" if p.id in bc.untracked else "variant"
        body: dict[str, Any] = {
            "id": p.id,
            "name": p.title,
            "type": "physical",
            "sku": f"SKU-{p.id}",
            "price": _number(min((v.price for v in p.variants), default=Decimal("0"))),
            "inventory_level": sum(v.inventory for v in p.variants) if tracking != "none" else 0,
            "inventory_tracking": tracking,
            "is_visible": True,
            "availability": "available",
            "custom_url": {"url": f"/{p.handle}/", "is_customized": False},
            "date_created": _iso(p.created_at),
            "date_modified": _iso(p.updated_at),
        }
        if variants:
            body["variants"] = [
                {
                    "id": v.id,
                    "product_id": p.id,
                    "sku": v.sku,
                    "sku_id": v.inventory_item_id,
                    "price": _number(v.price),
                    "calculated_price": _number(v.price),
                    "inventory_level": v.inventory if tracking != "none" else 0,
                    "option_values": [
                        {"id": v.id + 1, "label": v.title, "option_id": 1, "option_display_name": "Size"}
                    ],
                }
                for v in p.variants
            ]
        return body

    @staticmethod
    def _customer(c: FakeCustomer) -> dict[str, Any]:
        return {
            "id": c.id,
            "email": c.email,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "company": "",
            "phone": "",
            "customer_group_id": 0,
            "date_created": _iso(c.created_at),
            "date_modified": _iso(c.updated_at),
            "accepts_product_review_abandoned_cart_emails": c.accepts_marketing,
        }

    @staticmethod
    def _refund(o: FakeOrder, r: FakeRefund) -> dict[str, Any]:
        return {
            "id": r.id,
            "order_id": o.id,
            "user_id": 0,
            "created": _iso(r.created_at),
            "reason": "",
            "total_amount": _number(r.amount),
            "total_tax": 0,
            "uses_merchant_override_values": False,
            "payments": [
                {
                    "id": r.id + 1,
                    "provider_id": "braintree",
                    "amount": _number(r.amount),
                    "offline": False,
                    "is_declined": False,
                    "declined_message": "",
                }
            ],
            "items": [],
        }

    # --- hooks and deliveries --------------------------------------------------------------------------
    def _create_hook(self, bc: FakeBCStore, request: Request) -> Reply:
        try:
            body = request.json() or {}
        except ValueError:
            return _v3_error(400, "The body must be JSON")
        scope, destination = str(body.get("scope") or ""), str(body.get("destination") or "")
        if not scope.startswith("store/") or not destination.startswith(("https://", "http://")):
            return _v3_error(422, "scope and destination are required")
        now = int(time.time())
        with self.lock:
            hook = Hook(
                id=len(bc.hooks) + 1,
                scope=scope,
                destination=destination,
                is_active=bool(body.get("is_active", True)),
                headers=body.get("headers"),
                created_at=now,
                updated_at=now,
            )
            bc.hooks.append(hook)
        return Reply(200, {"data": self._hook(hook), "meta": {}})

    def _hook(self, hook: Hook) -> dict[str, Any]:
        return {
            "id": hook.id,
            "client_id": self.client_id,
            "scope": hook.scope,
            "destination": hook.destination,
            "is_active": hook.is_active,
            "headers": hook.headers,
            "created_at": hook.created_at,
            "updated_at": hook.updated_at,
        }

    def subscriptions(self, store_hash: str) -> dict[str, str]:
        """Active hooks: scope → destination."""
        return {h.scope: h.destination for h in self.stores[store_hash].hooks if h.is_active}

    def _callback_data(
        self, bc: FakeBCStore, scope: str, resource_type: str, resource_id: int
    ) -> dict[str, Any]:
        """The thin ``data`` of a callback, with the extras the events document (inventory callbacks
        name the product and, for a SKU, the variant)."""
        data: dict[str, Any] = {"type": resource_type, "id": resource_id}
        if scope == "store/product/inventory/updated":
            data["inventory"] = {"product_id": resource_id, "method": "absolute", "value": 0}
        elif scope == "store/sku/inventory/updated":
            for p in bc.store.products:
                for v in p.variants:
                    if v.inventory_item_id == resource_id:
                        data["inventory"] = {
                            "product_id": p.id,
                            "method": "absolute",
                            "value": v.inventory,
                            "variant_id": v.id,
                        }
        return data

    def signed_delivery(
        self,
        store_hash: str,
        scope: str,
        resource_type: str,
        resource_id: int,
        *,
        webhook_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The callback body ``{store_id, producer, scope, data, hash, created_at}`` (``hash``: SHA-1 of
        the data) and its Standard Webhooks headers, HMAC keyed by the client secret's bytes."""
        bc = self.stores[store_hash]
        data = self._callback_data(bc, scope, resource_type, resource_id)
        stamp = int(time.time()) if timestamp is None else timestamp
        payload = {
            "store_id": bc.store_id,
            "producer": f"stores/{store_hash}",
            "scope": scope,
            "data": data,
            "hash": hashlib.sha1(json.dumps(data, separators=(",", ":")).encode()).hexdigest(),  # noqa: S324 - BigCommerce's dedupe hash, not security
            "created_at": stamp,
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        msg_id = webhook_id or f"msg_{secrets.token_hex(12)}"
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": standard_webhook_signature(
                self.client_secret.encode(), msg_id, str(stamp), body
            ),
        }
        return body, headers

    def deliver(
        self,
        store_hash: str,
        scope: str,
        resource_type: str,
        resource_id: int,
        *,
        webhook_id: str | None = None,
        host: str | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        """POST a signed callback to the active hook's destination for ``scope`` (as BigCommerce does)."""
        destination = self.subscriptions(store_hash)[scope]
        body, headers = self.signed_delivery(
            store_hash, scope, resource_type, resource_id, webhook_id=webhook_id
        )
        for hook in self.stores[store_hash].hooks:
            if hook.scope == scope and hook.is_active and hook.headers:
                headers.update(hook.headers)  # custom headers given at creation are echoed
        if host:
            headers["Host"] = host
        return requests.post(destination, data=body, headers=headers, timeout=timeout)
