"""A loopback Shopify, written from api-contracts.md §1 (not from our client): OAuth authorize and
token exchange with expiring offline tokens and refresh, the Admin GraphQL API's ``shop``, ``orders``,
``products`` and ``customers`` connections (``first``/``after``, ``query: "updated_at:>='…'"``,
``pageInfo``), a cost bucket answering ``THROTTLED``, ``webhookSubscriptionCreate``, bulk operations
(``bulkOperationRunQuery``, polled through ``node(id:)``, a JSONL file whose nested connections are
lines with ``__parentId`` after their parent, served with ``Range`` support at an unauthenticated
signed URL), and signed REST-shaped webhook deliveries to the subscribed address.

Shops are served under ``/shops/<shop domain>``: ``KIKI_SHOPIFY_API_BASE=http://127.0.0.1:<port>/shops/{shop}``.
It does not parse GraphQL: it finds the query's root connection and reads its variables, which is
what our queries need; an unknown root field answers a GraphQL error.
"""

from __future__ import annotations

import base64
import bisect
import functools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from apps.stores.integrations.fakes.server import FakeServer, Reply, Request
from apps.stores.integrations.fakes.store import FakeOrder, FakeProduct, FakeStore
from apps.stores.integrations.signatures import shopify_query_hmac, shopify_webhook_signature

_ROOT = re.compile(r"\{\s*(\w+)\s*[({]")
_SINCE = re.compile(r"updated_at:>='([^']+)'")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _money(amount: Any) -> dict[str, Any]:
    return {"shopMoney": {"amount": str(amount), "currencyCode": "USD"}}


MAX_QUERY_COST = 1000  # api-contracts.md §1c: a single query may cost at most 1,000 points
_NESTED = re.compile(r"(?:lineItems|variants)\(first:\s*(\d+)")


def _page(nodes: list[dict[str, Any]], start: int, first: int | None) -> dict[str, Any]:
    """A nested connection: ``first`` nodes from ``start`` (None: all), with its pageInfo."""
    end = len(nodes) if first is None else start + first
    more = end < len(nodes)
    return {
        "nodes": nodes[start:end],
        "pageInfo": {
            "hasNextPage": more,
            "endCursor": base64.b64encode(str(end).encode()).decode() if more else None,
        },
    }


def _gid(kind: str, pk: int) -> str:
    return f"gid://shopify/{kind}/{pk}"


@dataclass
class Token:
    access_token: str
    expires_at: float
    refresh_token: str


@dataclass
class BulkOperation:
    """One bulk query: CREATED, RUNNING on the first poll, then COMPLETED (or FAILED) on the next."""

    id: int
    resource: str
    status: str = "CREATED"
    fail: bool = False
    polls: int = 0
    secret: str = field(default_factory=lambda: secrets.token_hex(8))
    body: bytes | None = None
    roots: int = 0
    expired: bool = False  # tests: the file's URL no longer answers (it lives 7 days)


MAX_BULK_QUERIES = 5  # per shop, from API version 2026-01 (api-contracts.md §1c)
_BULK_ROOT = re.compile(r"\{\s*(orders|products|customers)\s*[({]")
_BULK_CHILD = {"orders": "lineItems", "products": "variants", "customers": None}


@dataclass
class FakeShop:
    store: FakeStore
    client_id: str
    client_secret: str
    scopes: str = "read_products,read_orders,read_customers,read_inventory"
    token_ttl_s: int = 3600
    # Shopify Plus's GraphQL bucket (api-contracts.md §1c: restore rates 100/200/1000 points/s by plan);
    # tests shrink it to see the throttle.
    bucket_max: float = 10000.0
    restore_rate: float = 1000.0
    bucket: float = 10000.0
    bucket_at: float = field(default_factory=time.monotonic)
    codes: set[str] = field(default_factory=set)
    tokens: dict[str, Token] = field(default_factory=dict)
    subscriptions: dict[str, str] = field(default_factory=dict)  # REST topic → address
    installed: bool = True
    bulk_operations: dict[int, BulkOperation] = field(default_factory=dict)
    bulk_fail_next: int = 0  # tests: the next N operations end FAILED (INTERNAL_SERVER_ERROR)
    domain: str = ""  # as served: /shops/<domain>


class FakeShopify:
    """The app behind a ``FakeServer``; one or more shops by domain."""

    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",  # noqa: S107 - the fake app's, known to tests and the sandbox
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.shops: dict[str, FakeShop] = {}
        self.lock = threading.RLock()
        self.server = FakeServer(self, port=port)

    # --- set-up --------------------------------------------------------------------------------------
    def add_shop(self, domain: str, store: FakeStore) -> FakeShop:
        shop = FakeShop(
            store=store, client_id=self.client_id, client_secret=self.client_secret, domain=domain
        )
        self.shops[domain] = shop
        return shop

    def api_base_template(self) -> str:
        return f"{self.server.url}/shops/{{shop}}"

    def authorization_code(self, domain: str) -> str:
        """What Shopify's authorize page hands the app's redirect after the merchant approves."""
        code = secrets.token_hex(16)
        self.shops[domain].codes.add(code)
        return code

    def expire_tokens(self, domain: str) -> None:
        for token in self.shops[domain].tokens.values():
            token.expires_at = 0

    # --- the app -------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        match = re.match(r"^/shops/([^/]+)(/.*)$", request.path)
        if not match or match.group(1) not in self.shops:
            return Reply(404, {"errors": "Not Found"})
        shop, path = self.shops[match.group(1)], match.group(2)
        if path == "/admin/oauth/authorize":
            return self._authorize(match.group(1), request)
        if path == "/admin/oauth/access_token" and request.method == "POST":
            return self._token(shop, request)
        bulk_file = re.match(r"^/bulk/(\d+)\.jsonl$", path)
        if bulk_file and request.method == "GET":
            return self._bulk_file(shop, int(bulk_file.group(1)), request)
        if re.match(r"^/admin/api/[^/]+/graphql\.json$", path) and request.method == "POST":
            token = shop.tokens.get(request.headers.get("x-shopify-access-token", ""))
            if token is None or token.expires_at < time.time() or not shop.installed:
                return Reply(
                    401,
                    {
                        "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
                    },
                )
            return self._graphql(shop, request)
        return Reply(404, {"errors": "Not Found"})

    def _authorize(self, domain: str, request: Request) -> Reply:
        """The merchant approves at once (a sandbox): Shopify sends the browser back to the app's
        redirect URI with a code, the shop, the state, a timestamp and an HMAC over them (§1b)."""
        from urllib.parse import urlencode

        redirect, state = request.arg("redirect_uri"), request.arg("state")
        if request.arg("client_id") != self.client_id or not redirect or not state:
            return Reply(
                400, {"errors": "Oauth error invalid_request: missing client_id, redirect_uri or state"}
            )
        params = {
            "code": self.authorization_code(domain),
            "host": base64.b64encode(f"admin.shopify.com/store/{domain.split('.')[0]}".encode()).decode(),
            "shop": domain,
            "state": state,
            "timestamp": str(int(time.time())),
        }
        params["hmac"] = shopify_query_hmac(self.client_secret, params)
        return Reply(302, b"", {"Location": f"{redirect}?{urlencode(params)}"})

    def _token(self, shop: FakeShop, request: Request) -> Reply:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = request.json() or {}
        else:
            from urllib.parse import parse_qs

            data = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if data.get("client_id") != shop.client_id or data.get("client_secret") != shop.client_secret:
            return Reply(400, {"error": "invalid_client"})
        if data.get("grant_type") == "refresh_token":
            known = next(
                (t for t in shop.tokens.values() if t.refresh_token == data.get("refresh_token")), None
            )
            if known is None:
                return Reply(400, {"error": "invalid_grant"})
            del shop.tokens[known.access_token]
        elif data.get("code") in shop.codes:
            shop.codes.discard(data["code"])
        else:
            return Reply(
                400,
                {
                    "error": "invalid_request",
                    "error_description": "The authorization code was not found or was already used",
                },
            )
        token = Token(
            "shpat_" + secrets.token_hex(16), time.time() + shop.token_ttl_s, "shprt_" + secrets.token_hex(16)
        )
        shop.tokens[token.access_token] = token
        return Reply(
            200,
            {
                "access_token": token.access_token,
                "scope": shop.scopes,
                "expires_in": shop.token_ttl_s,
                "refresh_token": token.refresh_token,
                "refresh_token_expires_in": 2592000,
            },
        )

    def _graphql(self, shop: FakeShop, request: Request) -> Reply:
        body = request.json() or {}
        query, variables = body.get("query", ""), body.get("variables") or {}
        if "webhookSubscriptionCreate" in query:
            topic = variables["topic"]
            rest = "/".join(topic.lower().rsplit("_", 1))  # INVENTORY_LEVELS_UPDATE → inventory_levels/update
            shop.subscriptions[rest] = variables["callbackUrl"]
            return Reply(
                200,
                {
                    "data": {
                        "webhookSubscriptionCreate": {
                            "webhookSubscription": {
                                "id": _gid("WebhookSubscription", len(shop.subscriptions))
                            },
                            "userErrors": [],
                        }
                    }
                },
            )
        if "bulkOperationRunQuery" in query:
            return self._bulk_run(shop, variables.get("query") or "")
        root = _ROOT.search(query)  # the operation's first field: {  orders(… / { shop {
        name = root.group(1) if root else ""
        first = int(variables.get("first") or 50)
        nested_match = _NESTED.search(query)
        nested = int(nested_match.group(1)) if nested_match else 0
        # Shopify's rule of thumb: a connection costs its `first` × (1 + what each node asks for).
        if name == "shop":
            cost = 1.0
        elif name in ("order", "product"):
            cost = 2.0 + nested
        else:
            cost = 2.0 + first * (1 + nested)
        if cost > MAX_QUERY_COST:
            return Reply(
                200,
                {
                    "errors": [
                        {
                            "message": f"Query cost is {cost:.0f}, which exceeds the single query max cost "
                            f"limit ({MAX_QUERY_COST}).",
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": cost,
                                "maxCost": MAX_QUERY_COST,
                            },
                        }
                    ]
                },
            )
        with self.lock:
            now = time.monotonic()
            shop.bucket = min(shop.bucket_max, shop.bucket + (now - shop.bucket_at) * shop.restore_rate)
            shop.bucket_at = now
            throttle = {
                "maximumAvailable": shop.bucket_max,
                "currentlyAvailable": shop.bucket,
                "restoreRate": shop.restore_rate,
            }
            if cost > shop.bucket:
                return Reply(
                    200,
                    {
                        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                        "extensions": {
                            "cost": {
                                "requestedQueryCost": cost,
                                "actualQueryCost": None,
                                "throttleStatus": throttle,
                            }
                        },
                    },
                )
            shop.bucket -= cost
        extensions = {
            "cost": {
                "requestedQueryCost": cost,
                "actualQueryCost": cost,
                "throttleStatus": {**throttle, "currentlyAvailable": shop.bucket},
            }
        }
        if name == "shop":
            s = shop.store
            return Reply(
                200,
                {
                    "data": {
                        "shop": {
                            "name": s.name,
                            "currencyCode": s.currency,
                            "myshopifyDomain": f"{s.domain}.myshopify.com",
                        }
                    },
                    "extensions": extensions,
                },
            )
        if name in ("order", "product"):
            return Reply(
                200,
                {"data": {name: self._rest(shop.store, name, variables, nested)}, "extensions": extensions},
            )
        if name == "node":
            return Reply(
                200,
                {"data": {"node": self._bulk_poll(shop, str(variables.get("id")))}, "extensions": extensions},
            )
        if name not in ("orders", "products", "customers"):
            return Reply(200, {"errors": [{"message": f"Field '{name}' doesn't exist on type 'QueryRoot'"}]})
        data = self._connection(
            shop.store, name, first, variables.get("after"), variables.get("query"), nested
        )
        return Reply(200, {"data": {name: data}, "extensions": extensions})

    def _connection(
        self, store: FakeStore, name: str, first: int, after: str | None, query: str | None, nested: int = 0
    ) -> dict[str, Any]:
        items = store.by_update(name)  # sorted by (updated_at, id): Shopify's UPDATED_AT sort key
        keys = store.update_keys(name)
        start = 0
        since = _SINCE.search(query or "")
        if since:
            floor = datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
            start = bisect.bisect_left(keys, (floor, -1))
        if after:
            stamp, pk = json.loads(base64.b64decode(after))
            start = max(start, bisect.bisect_right(keys, (datetime.fromisoformat(stamp), pk)))
        page, more = items[start : start + first], len(items) > start + first
        render = functools.partial(self._renderer(name), nested=nested or None)
        end = None
        if page:
            last = page[-1]
            end = base64.b64encode(json.dumps([last.updated_at.isoformat(), last.id]).encode()).decode()
        return {
            "nodes": [render(store, i) for i in page],
            "pageInfo": {"hasNextPage": more, "endCursor": end},
        }

    def _renderer(self, name: str) -> Callable[..., dict[str, Any]]:
        """A connection's node shape, for its pages and for bulk files alike."""
        renderers: dict[str, Callable[..., dict[str, Any]]] = {
            "orders": self._order,
            "products": self._product,
            "customers": self._customer,
        }
        return renderers[name]

    # --- bulk operations (§1c) ---------------------------------------------------------------------------
    def _bulk_run(self, shop: FakeShop, bulk_query: str) -> Reply:
        def refused(field: list[str] | None, message: str) -> Reply:
            errors = [{"field": field, "message": message}]
            return Reply(
                200, {"data": {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": errors}}}
            )

        root = _BULK_ROOT.search(bulk_query)
        if root is None:
            return refused(["query"], "Invalid bulk query")
        with self.lock:
            running = sum(op.status in ("CREATED", "RUNNING") for op in shop.bulk_operations.values())
            if running >= MAX_BULK_QUERIES:
                return refused(None, "A bulk query operation for this app and shop is already in progress")
            op = BulkOperation(id=len(shop.bulk_operations) + 1, resource=root.group(1))
            if shop.bulk_fail_next > 0:
                shop.bulk_fail_next -= 1
                op.fail = True
            shop.bulk_operations[op.id] = op
        return Reply(
            200,
            {
                "data": {
                    "bulkOperationRunQuery": {
                        "bulkOperation": {"id": _gid("BulkOperation", op.id), "status": op.status},
                        "userErrors": [],
                    }
                }
            },
        )

    def _bulk_poll(self, shop: FakeShop, gid: str) -> dict[str, Any] | None:
        try:
            op = shop.bulk_operations[int(gid.rsplit("/", 1)[-1])]
        except (KeyError, ValueError):
            return None
        with self.lock:
            op.polls += 1
            if op.status == "CREATED":
                op.status = "RUNNING"
            elif op.status == "RUNNING" and op.polls >= 2:
                if op.fail:
                    op.status = "FAILED"
                else:
                    op.body, op.roots = self._bulk_render(shop.store, op.resource)
                    op.status = "COMPLETED"
        done = op.status == "COMPLETED"
        return {
            "id": gid,
            "status": op.status,
            "errorCode": "INTERNAL_SERVER_ERROR" if op.status == "FAILED" else None,
            "objectCount": str(op.body.count(b"\n")) if done and op.body else "0",
            "rootObjectCount": str(op.roots) if done else "0",
            "fileSize": str(len(op.body)) if done and op.body else None,
            "url": f"{self.server.url}/shops/{shop.domain}/bulk/{op.id}.jsonl?signature={op.secret}"
            if done and op.roots
            else None,
            "partialDataUrl": None,
        }

    def _bulk_render(self, store: FakeStore, resource: str) -> tuple[bytes, int]:
        """Every object as JSONL: the root's line, then a line per nested node with ``__parentId``."""
        render = self._renderer(resource)
        child = _BULK_CHILD[resource]
        lines: list[bytes] = []
        items = sorted(store.by_update(resource), key=lambda i: i.id)
        for item in items:
            node = render(store, item, nested=None)
            children = node.pop(child)["nodes"] if child else []
            lines.append(json.dumps(node, separators=(",", ":")).encode())
            lines.extend(
                json.dumps({**c, "__parentId": node["id"]}, separators=(",", ":")).encode() for c in children
            )
        return b"".join(line + b"\n" for line in lines), len(items)

    def _bulk_file(self, shop: FakeShop, op_id: int, request: Request) -> Reply:
        op = shop.bulk_operations.get(op_id)
        if op is None or op.body is None or op.expired or request.arg("signature") != op.secret:
            return Reply(
                403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"}
            )
        wanted = re.match(r"^bytes=(\d+)-$", request.headers.get("range", ""))
        if wanted:
            start = int(wanted.group(1))
            return Reply(
                206,
                op.body[start:],
                {
                    "Content-Type": "application/jsonl",
                    "Content-Range": f"bytes {start}-{len(op.body) - 1}/{len(op.body)}",
                },
            )
        return Reply(200, op.body, {"Content-Type": "application/jsonl"})

    # --- GraphQL shapes --------------------------------------------------------------------------------
    def _rest(self, store: FakeStore, name: str, variables: dict[str, Any], first: int) -> dict[str, Any]:
        """``order(id:) { lineItems(first:, after:) }`` / ``product(id:) { variants(…) }``."""
        pk = int(str(variables.get("id", "")).rsplit("/", 1)[-1] or 0)
        after = int(base64.b64decode(variables["after"]).decode()) if variables.get("after") else 0
        if name == "order":
            lines = store.order(pk).lines
            return {"lineItems": _page([self._line(li) for li in lines], after, first)}
        product = next(p for p in store.products if p.id == pk)
        return {"variants": _page([self._variant(v) for v in product.variants], after, first)}

    @staticmethod
    def _line(li: Any) -> dict[str, Any]:
        return {
            "id": _gid("LineItem", li.id),
            "sku": li.sku,
            "title": li.title,
            "quantity": li.quantity,
            "originalUnitPriceSet": _money(li.price),
            "totalDiscountSet": _money(li.discount),
            "variant": {"id": _gid("ProductVariant", li.variant_id)},
            "product": {"id": _gid("Product", li.product_id)},
        }

    @staticmethod
    def _variant(v: Any) -> dict[str, Any]:
        return {
            "id": _gid("ProductVariant", v.id),
            "sku": v.sku,
            "title": v.title,
            "price": str(v.price),
            "inventoryQuantity": v.inventory,
            "inventoryItem": {"id": _gid("InventoryItem", v.inventory_item_id), "tracked": True},
        }

    @staticmethod
    def _order(store: FakeStore, o: FakeOrder, nested: int | None = None) -> dict[str, Any]:
        customer = store.customer(o.customer_id)
        status = {
            "paid": "PAID",
            "refunded": "REFUNDED",
            "partially_refunded": "PARTIALLY_REFUNDED",
            "voided": "VOIDED",
        }[o.financial_status]
        return {
            "id": _gid("Order", o.id),
            "name": f"#{o.number}",
            "createdAt": _iso(o.created_at),
            "updatedAt": _iso(o.updated_at),
            "processedAt": _iso(o.created_at),
            "cancelledAt": _iso(o.cancelled_at),
            "currencyCode": store.currency,
            "displayFinancialStatus": status,
            "displayFulfillmentStatus": "FULFILLED" if o.fulfilled else "UNFULFILLED",
            "subtotalPriceSet": _money(o.subtotal),
            "totalTaxSet": _money(o.tax),
            "totalShippingPriceSet": _money(o.shipping),
            "totalDiscountsSet": _money(o.discount),
            "totalPriceSet": _money(o.total),
            "totalRefundedSet": _money(o.refunded),
            "customer": None
            if customer is None
            else {
                "id": _gid("Customer", customer.id),
                "email": customer.email,
                "firstName": customer.first_name,
                "lastName": customer.last_name,
                "emailMarketingConsent": {
                    "marketingState": "SUBSCRIBED" if customer.accepts_marketing else "NOT_SUBSCRIBED"
                },
            },
            "customerJourneySummary": {
                "firstVisit": {"landingPage": o.landing_site, "referrerUrl": o.referrer or None}
            },
            "lineItems": _page([FakeShopify._line(li) for li in o.lines], 0, nested),
            "refunds": [
                {
                    "id": _gid("Refund", r.id),
                    "createdAt": _iso(r.created_at),
                    "totalRefundedSet": _money(r.amount),
                }
                for r in o.refunds
            ],
        }

    @staticmethod
    def _product(store: FakeStore, p: FakeProduct, nested: int | None = None) -> dict[str, Any]:
        return {
            "id": _gid("Product", p.id),
            "title": p.title,
            "handle": p.handle,
            "onlineStoreUrl": f"https://{store.domain}.example/products/{p.handle}",
            "updatedAt": _iso(p.updated_at),
            "status": "ARCHIVED" if p.deleted else "ACTIVE",
            "variants": _page([FakeShopify._variant(v) for v in p.variants], 0, nested),
        }

    @staticmethod
    def _customer(store: FakeStore, c: Any, nested: int | None = None) -> dict[str, Any]:
        return {
            "id": _gid("Customer", c.id),
            "email": c.email,
            "firstName": c.first_name,
            "lastName": c.last_name,
            "updatedAt": _iso(c.updated_at),
            "emailMarketingConsent": {
                "marketingState": "SUBSCRIBED" if c.accepts_marketing else "NOT_SUBSCRIBED"
            },
        }

    # --- REST-shaped webhooks (§1d), signed with the app's secret (§1a) -----------------------------------
    @staticmethod
    def rest_order(store: FakeStore, o: FakeOrder) -> dict[str, Any]:
        customer = store.customer(o.customer_id)
        return {
            "id": o.id,
            "admin_graphql_api_id": _gid("Order", o.id),
            "email": customer.email if customer else "",
            "name": f"#{o.number}",
            "number": o.number - 1000,
            "order_number": o.number,
            "created_at": _iso(o.created_at),
            "updated_at": _iso(o.updated_at),
            "processed_at": _iso(o.created_at),
            "cancelled_at": _iso(o.cancelled_at),
            "currency": store.currency,
            "subtotal_price": str(o.subtotal),
            "total_tax": str(o.tax),
            "total_discounts": str(o.discount),
            "total_price": str(o.total),
            "financial_status": o.financial_status,
            "fulfillment_status": "fulfilled" if o.fulfilled else None,
            "landing_site": o.landing_site,
            "referring_site": o.referrer,
            "test": False,
            "shipping_lines": [{"price": str(o.shipping), "title": "Standard"}] if o.shipping else [],
            "customer": None
            if customer is None
            else {
                "id": customer.id,
                "email": customer.email,
                "first_name": customer.first_name,
                "last_name": customer.last_name,
            },
            "line_items": [
                {
                    "id": li.id,
                    "product_id": li.product_id,
                    "variant_id": li.variant_id,
                    "sku": li.sku,
                    "title": li.title,
                    "quantity": li.quantity,
                    "price": str(li.price),
                    "total_discount": str(li.discount),
                }
                for li in o.lines
            ],
            "refunds": [
                {
                    "id": r.id,
                    "created_at": _iso(r.created_at),
                    "transactions": [{"kind": "refund", "amount": str(r.amount)}],
                }
                for r in o.refunds
            ],
        }

    @staticmethod
    def rest_product(store: FakeStore, p: FakeProduct) -> dict[str, Any]:
        return {
            "id": p.id,
            "admin_graphql_api_id": _gid("Product", p.id),
            "title": p.title,
            "handle": p.handle,
            "status": "archived" if p.deleted else "active",
            "updated_at": _iso(p.updated_at),
            "variants": [
                {
                    "id": v.id,
                    "product_id": p.id,
                    "sku": v.sku,
                    "title": v.title,
                    "price": str(v.price),
                    "inventory_item_id": v.inventory_item_id,
                    "inventory_quantity": v.inventory,
                }
                for v in p.variants
            ],
        }

    def signed_delivery(
        self, domain: str, topic: str, payload: Any, *, webhook_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": domain,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(12),
            "X-Shopify-Event-Id": secrets.token_hex(12),
            "X-Shopify-Triggered-At": _iso(datetime.now(UTC)) or "",
            "X-Shopify-Hmac-Sha256": shopify_webhook_signature(self.client_secret, body),
        }
        return body, headers

    def deliver(
        self,
        domain: str,
        topic: str,
        payload: Any,
        *,
        webhook_id: str | None = None,
        host: str | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        """POST a signed delivery to the address subscribed for ``topic`` (as Shopify does)."""
        address = self.shops[domain].subscriptions[topic]
        body, headers = self.signed_delivery(domain, topic, payload, webhook_id=webhook_id)
        parts = urlsplit(address)
        if host or (parts.hostname or "").endswith(".localhost"):
            # Browsers send *.localhost to loopback; Python's resolver does not: connect to 127.0.0.1.
            headers["Host"] = host or parts.netloc
            address = parts._replace(netloc=f"127.0.0.1:{parts.port or 80}").geturl()
        return requests.post(address, data=body, headers=headers, timeout=timeout)
