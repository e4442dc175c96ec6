"""A loopback WooCommerce, written from api-contracts.md §2 and the REST API v3 docs (not from our
client): one ``FakeStore`` served as a WordPress site at the server's root (or under ``site_path``,
as WordPress installed in a folder).

- Auth: one-legged OAuth 1.0a in the query string (HMAC-SHA1 or HMAC-SHA256 keyed
  ``consumer_secret&``, a 15-minute timestamp window, a nonce used once), or HTTP Basic, or
  ``consumer_key``/``consumer_secret`` query parameters (the last two as a site behind TLS would
  take them). Anything else answers 401 as WooCommerce does.
- ``/wp-json/`` (the public WordPress index), ``/wp-json/wc/v3/``: ``system_status``,
  ``settings/general[/<id>]``, ``products`` (+ ``/{id}``, ``/{id}/variations``), ``customers``,
  ``orders`` (+ ``/{id}``, ``/{id}/refunds``), ``refunds`` (WooCommerce 9.0+; ``refunds_endpoint=False``
  plays an older shop), ``webhooks`` (list, create, update).
- Lists: ``page``/``per_page`` (1–100, else 400 ``rest_invalid_param``), ``offset``, ``include``,
  ``orderby``/``order``, ``after``/``before``/``modified_after``/``modified_before`` with
  ``dates_are_gmt`` (orders and products; customers have no date filter and ignore them, as
  WordPress ignores unknown parameters), and the ``X-WP-Total``/``X-WP-TotalPages``/``Link`` headers.
- Data: products with one variant are ``simple`` (their lines name ``variation_id`` 0), the others
  ``variable`` with variations. Money is decimal strings (a line's ``price`` is a number, as in
  WooCommerce). Dates come twice: site-local (``utc_offset``) and ``_gmt``, both without an offset.
  An order's coupon discount and tax are spread over its lines, as WooCommerce stores them.
- Webhooks: ``deliver`` POSTs ``trim(wp_json_encode(payload))`` signed with the webhook's secret to
  its ``delivery_url`` with the ``X-WC-Webhook-*`` headers; ``ping`` is the unsigned form-encoded
  ``webhook_id=…`` WooCommerce sends when a webhook is created.
- Key generation (``WC_Auth``): ``GET /wc-auth/v1/authorize?app_name&scope&user_id&return_url&callback_url``
  checks its parameters as WooCommerce does (all present, scope ``read|write|read_write``, an https
  ``callback_url`` unless ``allow_http_callback``), then the signed-in shop manager approves at once
  (``authorize_decision = "deny"`` plays a refusal: straight back to ``return_url?success=0``). The new
  ``ck_``/``cs_`` pair, with the scope as its permissions, is POSTed as JSON to ``callback_url``; only
  a 200 keeps it (else the key is deleted and the page answers 401), and the browser is sent to
  ``return_url?success=1&user_id=…``. A ``read`` key may only GET, a ``write`` key may not.

Throttling and 5xx come from the server's failure queue (``server.fail(Failure(429, …))``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

from apps.stores.integrations.fakes.server import FakeServer, Reply, Request
from apps.stores.integrations.fakes.store import FakeCustomer, FakeOrder, FakeProduct, FakeStore, FakeVariant
from apps.stores.integrations.signatures import woocommerce_webhook_signature

API = "/wp-json/wc/v3"
OAUTH_WINDOW_S = 15 * 60
USER_AGENT = "WooCommerce/9.8.1 Hookshot (WordPress/6.8.1)"
CENT = Decimal("0.01")
TOPIC = re.compile(r"^(order|product|customer|coupon)\.(created|updated|deleted|restored)$|^action\.[\w.-]+$")
_ORDERBY = {
    "orders": ("date", "id", "include", "title", "slug", "modified"),
    "products": ("date", "id", "include", "title", "slug", "price", "popularity", "rating", "modified"),
    "customers": ("id", "include", "name", "registered_date"),
    "variations": ("date", "id", "include", "title", "slug", "modified"),
    "refunds": ("date", "id", "include", "title", "slug", "modified"),
    "webhooks": ("date", "id", "include", "title"),
}
_DEFAULT_ORDER = {"customers": ("name", "asc"), "webhooks": ("date", "desc")}
_DATE_FILTERED = ("orders", "products")


def _error(status: int, code: str, message: str, **data: Any) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status, **data}})


def _rfc3986(value: str) -> str:
    return quote(value, safe="-._~")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _allocate(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """``amount`` spread over ``weights`` in cents; the last share takes the rounding."""
    whole = sum(weights, Decimal("0"))
    if not weights or whole == 0:
        return [Decimal("0.00")] * len(weights)
    shares = [_cents(amount * w / whole) for w in weights[:-1]]
    return [*shares, _cents(amount) - sum(shares, Decimal("0.00"))]


def wp_json_encode(payload: Any) -> bytes:
    """PHP's ``json_encode`` as WordPress calls it: compact, ``\\/`` for slashes, ASCII only."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").strip().encode()


@dataclass
class FakeWebhook:
    id: int
    name: str
    topic: str
    delivery_url: str
    secret: str
    status: str
    created_at: datetime
    modified_at: datetime


@dataclass
class _Listing:
    """What a list request asked for, once validated."""

    page: int
    per_page: int
    offset: int | None
    include: list[int]
    orderby: str
    descending: bool
    filters: dict[str, datetime] = field(default_factory=dict)


class FakeWooCommerce:
    """The app behind a ``FakeServer`` for one WordPress site and its ``FakeStore``."""

    def __init__(
        self,
        store: FakeStore,
        *,
        consumer_key: str = "ck_fake0123456789abcdef0123456789abcdef0123",
        consumer_secret: str = "cs_fake0123456789abcdef0123456789abcdef0123",  # noqa: S107 - the fake shop's, known to tests and the sandbox
        site_path: str = "",
        utc_offset: timedelta = timedelta(hours=2),
        refunds_endpoint: bool = True,
        unmanaged_stock: Collection[int] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        # consumer key → (secret, permissions): the pair given here, and those key generation creates
        self.api_keys: dict[str, tuple[str, str]] = {consumer_key: (consumer_secret, "read_write")}
        self.granted: list[dict[str, Any]] = []  # what key generation POSTed and the callback accepted
        self.authorize_decision = "approve"  # or "deny": the shop manager refuses
        self.allow_http_callback = False  # WooCommerce requires an https callback_url
        self._key_ids = 0
        self.site_path = "/" + site_path.strip("/") if site_path.strip("/") else ""
        self.utc_offset = utc_offset
        self.refunds_endpoint = refunds_endpoint
        self.unmanaged_stock = set(unmanaged_stock)  # variant ids whose stock WooCommerce does not manage
        self.clock = clock
        self.webhooks: dict[int, FakeWebhook] = {}
        self.trashed: set[int] = set()  # order ids in the bin
        self.nonces: dict[str, float] = {}
        self.lock = threading.RLock()
        self._webhook_ids = 100
        self.server = FakeServer(self)

    # --- set-up --------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The site's address (what a merchant pastes as the store URL)."""
        return f"{self.server.url}{self.site_path}"

    def trash_order(self, order_id: int, *, when: datetime | None = None) -> FakeOrder:
        """Move an order to the bin: status ``trash``, out of the lists, still readable by id."""
        with self.store.lock:
            order = self.store.order(order_id)
            order.updated_at = (when or datetime.now(UTC)).replace(microsecond=0)
            self.trashed.add(order_id)
            return order

    def webhook_for(self, topic: str) -> FakeWebhook:
        with self.lock:
            found = [w for w in self.webhooks.values() if w.topic == topic and w.status == "active"]
        if not found:
            raise KeyError(f"no active webhook for {topic}")
        return found[-1]

    # --- the app -------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        if not request.path.startswith(self.site_path + "/"):
            return self._no_route()
        path = request.path[len(self.site_path) :]
        if path in ("/wp-json", "/wp-json/") and request.method == "GET":
            return Reply(200, self._index())
        if path.rstrip("/") == "/wc-auth/v1/authorize" and request.method == "GET":
            return self._authorize(request)
        if not path.startswith(API + "/") and path != API:
            return self._no_route()
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        route = path[len(API) :].rstrip("/")
        try:
            return self._route(request, route)
        except _Refusal as refusal:
            return refusal.reply

    def _route(self, request: Request, route: str) -> Reply:
        method = request.method
        if route == "/system_status" and method == "GET":
            return Reply(200, self._system_status())
        if route == "/settings/general" and method == "GET":
            return Reply(200, list(self._settings().values()))
        match = re.fullmatch(r"/settings/general/([\w-]+)", route)
        if match and method == "GET":
            setting = self._settings().get(match.group(1))
            if setting is None:
                return _error(404, "rest_setting_setting_invalid", "Invalid setting.")
            return Reply(200, setting)
        if method == "GET":
            listed = self._get(request, route)
            if listed is not None:
                return listed
        if route == "/webhooks" and method == "POST":
            return self._webhook_create(request)
        match = re.fullmatch(r"/webhooks/(\d+)", route)
        if match and method in ("PUT", "PATCH", "POST"):
            return self._webhook_update(int(match.group(1)), request)
        return self._no_route()

    def _get(self, request: Request, route: str) -> Reply | None:
        store = self.store
        if route == "/orders":
            with store.lock:
                rows = list(store.orders)
            statuses = (request.arg("status") or "any").split(",")
            if "any" in statuses:  # every status but the bin
                rows = [o for o in rows if o.id not in self.trashed]
            else:
                rows = [o for o in rows if self._status(o) in statuses]
            return self._list(request, "orders", rows, self.order_payload_of)
        if match := re.fullmatch(r"/orders/(\d+)", route):
            found = store.orders_by_id.get(int(match.group(1)))
            if found is None:
                return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            return Reply(200, self.order_payload_of(found))
        if match := re.fullmatch(r"/orders/(\d+)/refunds", route):
            found = store.orders_by_id.get(int(match.group(1)))
            if found is None:
                return _error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            refunds = [(found, r) for r in found.refunds]
            return self._list(request, "refunds", refunds, lambda pair: self._refund(*pair, listed=False))
        if route == "/refunds" and self.refunds_endpoint:
            with store.lock:
                refunds = [(o, r) for o in store.orders for r in o.refunds]
            return self._list(request, "refunds", refunds, lambda pair: self._refund(*pair, listed=True))
        if route == "/products":
            with store.lock:
                products = [p for p in store.products if not p.deleted]
            return self._list(request, "products", products, self._product)
        if match := re.fullmatch(r"/products/(\d+)", route):
            return self._product_or_variation(int(match.group(1)))
        if match := re.fullmatch(r"/products/(\d+)/variations", route):
            product = self._find_product(int(match.group(1)))
            if product is None:
                return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            return self._list(
                request,
                "variations",
                [(product, v) for v in product.variants] if len(product.variants) > 1 else [],
                lambda pair: self._variation(*pair, as_product=False),
            )
        if route == "/customers":
            with store.lock:
                customers = list(store.customers)
            return self._list(request, "customers", customers, self._customer)
        if match := re.fullmatch(r"/customers/(\d+)", route):
            customer = store.customer(int(match.group(1)))
            if customer is None:
                return _error(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
            return Reply(200, self._customer(customer))
        if route == "/webhooks":
            with self.lock:
                hooks = list(self.webhooks.values())
            wanted = request.arg("status") or "all"
            hooks = [w for w in hooks if wanted == "all" or w.status == wanted]
            return self._list(request, "webhooks", hooks, self._webhook)
        if match := re.fullmatch(r"/webhooks/(\d+)", route):
            hook = self.webhooks.get(int(match.group(1)))
            if hook is None:
                return _error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
            return Reply(200, self._webhook(hook))
        return None

    @staticmethod
    def _no_route() -> Reply:
        return _error(404, "rest_no_route", "No route was found matching the URL and request method.")

    # --- auth ------------------------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
            return self._key_pair(key, secret, request.method)
        if request.arg("consumer_key") is not None:
            return self._key_pair(
                request.arg("consumer_key") or "", request.arg("consumer_secret") or "", request.method
            )
        if request.arg("oauth_consumer_key") is not None:
            return self._oauth(request)
        return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")

    def _key(self, key: str) -> tuple[str, str] | None:
        with self.lock:
            return self.api_keys.get(key)

    @staticmethod
    def _permitted(permissions: str, method: str) -> Reply | None:
        """A ``read`` key only reads, a ``write`` key only writes (WC_REST_Authentication)."""
        reading = method in ("GET", "HEAD")
        if (permissions == "read" and not reading) or (permissions == "write" and reading):
            return _error(
                401,
                "woocommerce_rest_authentication_error",
                "The API key provided does not have the permissions.",
            )
        return None

    def _key_pair(self, key: str, secret: str, method: str) -> Reply | None:
        found = self._key(key)
        if found is None:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if not hmac.compare_digest(secret.encode(), found[0].encode()):
            return _error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        return self._permitted(found[1], method)

    def _oauth(self, request: Request) -> Reply | None:
        params = {k: v[0] for k, v in request.query.items()}
        required = (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        )
        missing = [p for p in required if not params.get(p)]
        if missing:
            return _error(
                401,
                "woocommerce_rest_authentication_error",
                f"Missing OAuth parameter(s) {', '.join(missing)}",
            )
        found = self._key(params["oauth_consumer_key"])
        if found is None:
            return _error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        consumer_secret, permissions = found
        algorithm = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}.get(
            params["oauth_signature_method"]
        )
        if algorithm is None:
            return _error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - signature method is invalid.",
            )
        url = f"http://{request.headers.get('host', '')}{request.path}"
        pairs = sorted(
            (_rfc3986(k), _rfc3986(v))
            for k, values in request.query.items()
            for v in values
            if k != "oauth_signature"
        )
        base = "&".join((request.method, _rfc3986(url), _rfc3986("&".join(f"{k}={v}" for k, v in pairs))))
        expected = base64.b64encode(
            hmac.new(f"{consumer_secret}&".encode(), base.encode(), algorithm).digest()
        ).decode()
        if not hmac.compare_digest(expected.encode(), params["oauth_signature"].encode()):
            return _error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - provided signature does not match.",
            )
        try:
            stamp = int(params["oauth_timestamp"])
        except ValueError:
            stamp = 0
        now = self.clock()
        if abs(now - stamp) > OAUTH_WINDOW_S:
            return _error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        with self.lock:
            self.nonces = {n: t for n, t in self.nonces.items() if now - t <= OAUTH_WINDOW_S}
            if params["oauth_nonce"] in self.nonces:
                return _error(
                    401,
                    "woocommerce_rest_authentication_error",
                    "Invalid nonce - nonce has already been used.",
                )
            self.nonces[params["oauth_nonce"]] = stamp
        return self._permitted(permissions, request.method)

    # --- key generation (WC_Auth) ----------------------------------------------------------------------
    @staticmethod
    def _auth_refused(message: str) -> Reply:
        """``wp_die`` as WC_Auth calls it: an HTML page, 401."""
        page = f"<!DOCTYPE html><html><body><p>Error: {message}.</p></body></html>".encode()
        return Reply(401, page, {"Content-Type": "text/html; charset=UTF-8"})

    @staticmethod
    def _formatted_url(url: str) -> str:
        return url if "://" in url else f"https://{url}"

    @staticmethod
    def _with_query(url: str, **params: str) -> str:
        parts = urlsplit(url)
        query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _authorize(self, request: Request) -> Reply:
        data: dict[str, str] = {}
        for name in ("app_name", "user_id", "return_url", "callback_url", "scope"):
            values = request.query.get(name) or [""]
            if len(values) != 1:
                return self._auth_refused(f"Invalid parameter {name}")
            if not values[0]:
                return self._auth_refused(f"Missing parameter {name}")
            data[name] = values[0]
        if data["scope"] not in ("read", "write", "read_write"):
            return self._auth_refused(f"Invalid scope {data['scope']}")
        return_url = self._formatted_url(data["return_url"])
        callback_url = self._formatted_url(data["callback_url"])
        for url in (return_url, callback_url):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return self._auth_refused(f"The {url} is not a valid URL")
        if not callback_url.lower().startswith("https://") and not self.allow_http_callback:
            return self._auth_refused("The callback_url needs to be over SSL")
        if self.authorize_decision == "deny":  # the grant page's "Deny" link
            return Reply(
                302, b"", {"Location": self._with_query(return_url, success="0", user_id=data["user_id"])}
            )
        consumer_key, consumer_secret = f"ck_{secrets.token_hex(20)}", f"cs_{secrets.token_hex(20)}"
        with self.lock:
            self._key_ids += 1
            key = {
                "key_id": self._key_ids,
                "user_id": data["user_id"],
                "consumer_key": consumer_key,
                "consumer_secret": consumer_secret,
                "key_permissions": data["scope"],
            }
            self.api_keys[consumer_key] = (consumer_secret, data["scope"])
        try:
            answer = self._post_consumer_data(key, callback_url)
        except requests.RequestException as exc:
            answer = None
            problem = type(exc).__name__
        else:
            problem = "An error occurred in the request and at the time were unable to send the consumer data"
        if answer is None or answer.status_code != 200:
            with self.lock:
                self.api_keys.pop(consumer_key, None)  # maybe_delete_key
            return self._auth_refused(problem)
        with self.lock:
            self.granted.append(key)
        return Reply(
            302, b"", {"Location": self._with_query(return_url, success="1", user_id=data["user_id"])}
        )

    def _post_consumer_data(self, key: dict[str, Any], url: str) -> requests.Response:
        """WooCommerce's server-side POST of the new key. ``*.localhost`` is sent to 127.0.0.1 (same
        port, same Host header), as browsers do and Python's resolver does not."""
        headers = {"Content-Type": "application/json;charset=UTF-8", "User-Agent": USER_AGENT}
        parts = urlsplit(url)
        if (parts.hostname or "").endswith(".localhost"):
            headers["Host"] = parts.netloc
            default = 443 if parts.scheme == "https" else 80
            url = parts._replace(netloc=f"127.0.0.1:{parts.port or default}").geturl()
        return requests.post(
            url, data=wp_json_encode(key), headers=headers, timeout=60, allow_redirects=False
        )

    # --- lists -----------------------------------------------------------------------------------------
    def _listing(self, request: Request, kind: str) -> _Listing:
        bad: dict[str, str] = {}

        def integer(name: str, default: int | None, low: int, high: int | None) -> int | None:
            raw = request.arg(name)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                bad[name] = f"{name} is not of type integer."
                return default
            if value < low or (high is not None and value > high):
                bad[name] = (
                    f"{name} must be between {low} (inclusive) and {high} (inclusive)"
                    if high is not None
                    else f"{name} must be greater than or equal to {low}"
                )
            return value

        per_page = integer("per_page", 10, 1, 100) or 10
        page = integer("page", 1, 1, None) or 1
        offset = integer("offset", None, 0, None)
        include: list[int] = []
        for part in (request.arg("include") or "").split(","):
            if part.strip():
                if part.strip().isdigit():
                    include.append(int(part))
                else:
                    bad["include"] = "include[0] is not of type integer."
        default_by, default_order = _DEFAULT_ORDER.get(kind, ("date", "desc"))
        orderby = request.arg("orderby") or default_by
        if orderby not in _ORDERBY[kind]:
            bad["orderby"] = f"orderby is not one of {', '.join(_ORDERBY[kind])}."
        order = request.arg("order") or default_order
        if order not in ("asc", "desc"):
            bad["order"] = "order is not one of asc and desc."
        filters: dict[str, datetime] = {}
        if kind in _DATE_FILTERED:
            gmt = (request.arg("dates_are_gmt") or "").lower() in ("1", "true")
            for name in ("after", "before", "modified_after", "modified_before"):
                raw = request.arg(name)
                if raw:
                    try:
                        filters[name] = self._parse_date(raw, gmt=gmt)
                    except ValueError:
                        bad[name] = "Invalid date."
        if bad:
            raise _Refusal(
                _error(400, "rest_invalid_param", f"Invalid parameter(s): {', '.join(bad)}", params=bad)
            )
        return _Listing(page, per_page, offset, include, orderby, order == "desc", filters)

    def _parse_date(self, raw: str, *, gmt: bool) -> datetime:
        """A filter date: with an offset it says which instant; without, it is GMT when
        ``dates_are_gmt`` is set and the site's local time otherwise."""
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        return parsed.replace(tzinfo=UTC) - (timedelta(0) if gmt else self.utc_offset)

    def _list(
        self, request: Request, kind: str, rows: list[Any], render: Callable[[Any], dict[str, Any]]
    ) -> Reply:
        listing = self._listing(request, kind)
        rows = [r for r in rows if self._kept(r, listing)]
        if listing.include:
            rows = [r for r in rows if self._id(r) in listing.include]
        rows.sort(key=lambda r: self._sort_key(r, listing), reverse=listing.descending)
        total = len(rows)
        pages = math.ceil(total / listing.per_page) if total else 0
        if listing.offset is None and total and listing.page > pages:
            return _error(
                400,
                "woocommerce_rest_invalid_page_number",
                "The page number requested is larger than the number of pages available.",
            )
        start = listing.offset if listing.offset is not None else (listing.page - 1) * listing.per_page
        chosen = rows[start : start + listing.per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        link = self._link(request, listing.page, pages)
        if link:
            headers["Link"] = link
        return Reply(200, [render(r) for r in chosen], headers)

    def _kept(self, row: Any, listing: _Listing) -> bool:
        if not listing.filters:
            return True
        created, modified = self._dates(row)
        checks = {
            "after": lambda d: created > d,
            "before": lambda d: created < d,
            "modified_after": lambda d: modified > d,
            "modified_before": lambda d: modified < d,
        }
        return all(checks[name](value) for name, value in listing.filters.items())

    @staticmethod
    def _dates(row: Any) -> tuple[datetime, datetime]:
        """(created, modified) of a listed row: a variation is dated as its product, a refund by
        its creation."""
        if isinstance(row, tuple):
            parent, child = row
            if isinstance(child, FakeVariant):
                return parent.created_at, parent.updated_at
            return child.created_at, child.created_at
        if isinstance(row, FakeWebhook):
            return row.created_at, row.modified_at
        return row.created_at, row.updated_at

    @staticmethod
    def _id(row: Any) -> int:
        return int(row[1].id if isinstance(row, tuple) else row.id)

    def _sort_key(self, row: Any, listing: _Listing) -> Any:
        pk = self._id(row)
        if listing.orderby == "include" and listing.include:
            return (listing.include.index(pk), pk)
        if listing.orderby in ("date", "registered_date"):
            return (self._dates(row)[0], pk)
        if listing.orderby == "modified":
            return (self._dates(row)[1], pk)
        if listing.orderby in ("title", "name", "slug"):
            text = getattr(row, "title", None) or getattr(row, "last_name", None) or getattr(row, "name", "")
            return (str(text).lower(), pk)
        return (pk,)

    def _link(self, request: Request, page: int, pages: int) -> str:
        kept = [
            (k, v)
            for k, values in request.query.items()
            for v in values
            if k != "page" and not k.startswith(("oauth_", "consumer_"))
        ]
        base = f"{self.url}{request.path[len(self.site_path) :]}"

        def at(n: int) -> str:
            return f"{base}?{urlencode([*kept, ('page', str(n))])}"

        links = []
        if page > 1 and pages:
            links += [f'<{at(1)}>; rel="first"', f'<{at(min(page - 1, pages))}>; rel="prev"']
        if page < pages:
            links += [f'<{at(page + 1)}>; rel="next"', f'<{at(pages)}>; rel="last"']
        return ", ".join(links)

    # --- representations -------------------------------------------------------------------------------
    def _local(self, value: datetime | None) -> str | None:
        return (value.astimezone(UTC) + self.utc_offset).strftime("%Y-%m-%dT%H:%M:%S") if value else None

    @staticmethod
    def _gmt(value: datetime | None) -> str | None:
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if value else None

    def _stamps(self, name: str, value: datetime | None) -> dict[str, str | None]:
        return {name: self._local(value), f"{name}_gmt": self._gmt(value)}

    def _index(self) -> dict[str, Any]:
        return {
            "name": self.store.name,
            "description": "Just another WordPress site",
            "url": self.url,
            "home": self.url,
            "gmt_offset": self.utc_offset.total_seconds() / 3600,
            "namespaces": ["oembed/1.0", "wc/v3", "wp/v2"],
            "authentication": [],
            "routes": {},
        }

    def _system_status(self) -> dict[str, Any]:
        return {
            "environment": {
                "home_url": self.url,
                "site_url": self.url,
                "version": "9.8.1",
                "wp_version": "6.8.1",
                "language": "en_US",
            },
            "settings": {
                "api_enabled": True,
                "force_ssl": False,
                "currency": self.store.currency,
                "currency_symbol": "$",
                "currency_position": "left",
                "thousand_separator": ",",
                "decimal_separator": ".",
                "number_of_decimals": 2,
            },
        }

    def _settings(self) -> dict[str, dict[str, Any]]:
        def option(key: str, label: str, value: Any, kind: str = "text") -> dict[str, Any]:
            return {
                "id": key,
                "label": label,
                "description": "",
                "type": kind,
                "default": "",
                "tip": "",
                "value": value,
                "group_id": "general",
            }

        return {
            s["id"]: s
            for s in (
                option("woocommerce_store_address", "Address line 1", "1 Sandbox Way"),
                option("woocommerce_store_city", "City", "Portland"),
                option("woocommerce_default_country", "Country / State", "US:OR", "single_select_country"),
                option("woocommerce_currency", "Currency", self.store.currency, "select"),
                option("woocommerce_price_num_decimals", "Number of decimals", "2", "number"),
            )
        }

    def _status(self, o: FakeOrder) -> str:
        if o.id in self.trashed:
            return "trash"
        if o.cancelled_at is not None:
            return "cancelled"
        if o.refunds and o.refunded >= o.total:
            return "refunded"
        return "completed" if o.fulfilled else "processing"

    def order_payload(self, order_id: int) -> dict[str, Any]:
        """``GET /orders/{id}``: what an order webhook carries."""
        return self.order_payload_of(self.store.order(order_id))

    def order_payload_of(self, o: FakeOrder) -> dict[str, Any]:
        store = self.store
        customer = store.customer(o.customer_id)
        status = self._status(o)
        weights = [li.price * li.quantity for li in o.lines]
        discounts = _allocate(o.discount, weights)
        taxes = _allocate(o.tax, weights)
        meta: list[dict[str, Any]] = [
            {
                "id": o.id * 10 + 1,
                "key": "_wc_order_attribution_source_type",
                "value": "utm"
                if "utm_source=" in o.landing_site
                else ("referral" if o.referrer else "typein"),
            },
            {
                "id": o.id * 10 + 2,
                "key": "_wc_order_attribution_session_entry",
                "value": f"{self.url}{o.landing_site}",
            },
        ]
        if o.referrer:
            meta.append({"id": o.id * 10 + 3, "key": "_wc_order_attribution_referrer", "value": o.referrer})
        first, last, email = (
            (customer.first_name, customer.last_name, customer.email)
            if customer
            else ("Guest", f"Shopper{o.id}", f"guest{o.id}@example.com")
        )
        address = {
            "address_1": "1 Main St",
            "address_2": "",
            "city": "Portland",
            "state": "OR",
            "postcode": "97201",
            "country": "US",
        }
        return {
            "id": o.id,
            "parent_id": 0,
            "status": status,
            "currency": store.currency,
            "version": "9.8.1",
            "prices_include_tax": False,
            **self._stamps("date_created", o.created_at),
            **self._stamps("date_modified", o.updated_at),
            "discount_total": str(o.discount),
            "discount_tax": "0.00",
            "shipping_total": str(o.shipping),
            "shipping_tax": "0.00",
            "cart_tax": str(o.tax),
            "total": str(o.total),
            "total_tax": str(o.tax),
            "customer_id": customer.id if customer else 0,
            "order_key": f"wc_order_{o.id:x}fake",
            "billing": {
                "first_name": first,
                "last_name": last,
                "company": "",
                **address,
                "email": email,
                "phone": "",
            },
            "shipping": {"first_name": first, "last_name": last, "company": "", **address, "phone": ""},
            "payment_method": "stripe",
            "payment_method_title": "Credit card",
            "transaction_id": f"pi_{o.id}",
            "customer_ip_address": "203.0.113.7",
            "customer_user_agent": "Mozilla/5.0",
            "created_via": "checkout",
            "customer_note": "",
            **self._stamps("date_completed", o.created_at if status == "completed" else None),
            **self._stamps("date_paid", o.created_at),
            "cart_hash": "",
            "number": str(o.number),
            "meta_data": meta,
            "line_items": [
                {
                    "id": li.id,
                    "name": li.title,
                    "product_id": li.product_id,
                    "variation_id": li.variant_id if self._is_variable(li.product_id) else 0,
                    "quantity": li.quantity,
                    "tax_class": "",
                    "subtotal": str(_cents(li.price * li.quantity)),
                    "subtotal_tax": str(tax),
                    "total": str(_cents(li.price * li.quantity) - discount),
                    "total_tax": str(tax),
                    "taxes": [],
                    "meta_data": [],
                    "sku": li.sku,
                    # WooCommerce sends the unit price after discounts as a JSON number.
                    "price": float((li.price * li.quantity - discount) / li.quantity) if li.quantity else 0,
                    "parent_name": None,
                }
                for li, discount, tax in zip(o.lines, discounts, taxes, strict=True)
            ],
            "tax_lines": [],
            "shipping_lines": [
                {
                    "id": o.id * 10 + 9,
                    "method_title": "Flat rate",
                    "method_id": "flat_rate",
                    "instance_id": "1",
                    "total": str(o.shipping),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
            ]
            if o.shipping
            else [],
            "fee_lines": [],
            "coupon_lines": [],
            # Newest first, as WooCommerce lists an order's refunds.
            "refunds": [{"id": r.id, "reason": "", "total": f"-{r.amount}"} for r in reversed(o.refunds)],
            "payment_url": f"{self.url}/checkout/order-pay/{o.id}/",
            "is_editable": False,
            "needs_payment": False,
            "needs_processing": True,
            "currency_symbol": "$",
            "_links": {
                "self": [{"href": f"{self.url}{API}/orders/{o.id}"}],
                "collection": [{"href": f"{self.url}{API}/orders"}],
            },
        }

    def _refund(self, o: FakeOrder, r: Any, *, listed: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": r.id,
            **self._stamps("date_created", r.created_at),
            "amount": str(r.amount),
            "reason": "",
            "refunded_by": 1,
            "refunded_payment": True,
            "meta_data": [],
            "line_items": [],
            "shipping_lines": [],
            "tax_lines": [],
            "fee_lines": [],
            "_links": {"up": [{"href": f"{self.url}{API}/orders/{o.id}"}]},
        }
        if listed:
            body["parent_id"] = o.id
        return body

    def _is_variable(self, product_id: int) -> bool:
        product = self._find_product(product_id)
        return product is not None and len(product.variants) > 1

    def _find_product(self, product_id: int) -> FakeProduct | None:
        with self.store.lock:
            return next((p for p in self.store.products if p.id == product_id), None)

    def _managed(self, v: FakeVariant) -> bool:
        return v.id not in self.unmanaged_stock

    def _stock(self, v: FakeVariant) -> dict[str, Any]:
        managed = self._managed(v)
        return {
            "manage_stock": managed,
            "stock_quantity": v.inventory if managed else None,
            "stock_status": "instock" if (not managed or v.inventory > 0) else "outofstock",
            "backorders": "no",
        }

    def product_payload(self, product_id: int) -> dict[str, Any]:
        """``GET /products/{id}`` (a variation's id answers the variation): what a product webhook carries."""
        reply = self._product_or_variation(product_id)
        if reply.status != 200:
            raise KeyError(product_id)
        return dict(reply.body)

    def _product_or_variation(self, product_id: int) -> Reply:
        product = self._find_product(product_id)
        if product is not None:
            return Reply(200, self._product(product))
        with self.store.lock:
            for p in self.store.products:
                for v in p.variants:
                    if v.id == product_id and len(p.variants) > 1:
                        return Reply(200, self._variation(p, v, as_product=True))
        return _error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")

    def _product(self, p: FakeProduct) -> dict[str, Any]:
        variable = len(p.variants) > 1
        single = p.variants[0]
        prices = sorted(v.price for v in p.variants)
        body: dict[str, Any] = {
            "id": p.id,
            "name": p.title,
            "slug": p.handle,
            "permalink": f"{self.url}/product/{p.handle}/",
            **self._stamps("date_created", p.created_at),
            **self._stamps("date_modified", p.updated_at),
            "type": "variable" if variable else "simple",
            "status": "trash" if p.deleted else "publish",
            "featured": False,
            "catalog_visibility": "visible",
            "description": "",
            "short_description": "",
            "sku": "" if variable else single.sku,
            "price": str(prices[0]),
            "regular_price": "" if variable else str(single.price),
            "sale_price": "",
            "on_sale": False,
            "purchasable": True,
            "total_sales": 0,
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": "",
            "parent_id": 0,
            "attributes": [
                {
                    "id": 0,
                    "name": "Size",
                    "position": 0,
                    "visible": True,
                    "variation": True,
                    "options": [v.title for v in p.variants],
                }
            ]
            if variable
            else [],
            "variations": [v.id for v in p.variants] if variable else [],
            "meta_data": [],
        }
        if variable:
            body.update(
                manage_stock=False,
                stock_quantity=None,
                stock_status="instock"
                if any(v.inventory > 0 or not self._managed(v) for v in p.variants)
                else "outofstock",
                backorders="no",
            )
        else:
            body.update(self._stock(single))
        return body

    def _variation(self, p: FakeProduct, v: FakeVariant, *, as_product: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": v.id,
            **self._stamps("date_created", p.created_at),
            **self._stamps("date_modified", p.updated_at),
            "description": "",
            "permalink": f"{self.url}/product/{p.handle}/?attribute_size={v.title}",
            "sku": v.sku,
            "price": str(v.price),
            "regular_price": str(v.price),
            "sale_price": "",
            "on_sale": False,
            "status": "publish",
            "purchasable": True,
            "virtual": False,
            "downloadable": False,
            "tax_status": "taxable",
            "tax_class": "",
            **self._stock(v),
            "attributes": [{"id": 0, "name": "Size", "option": v.title}],
            "menu_order": 0,
            "meta_data": [],
            "name": f"{p.title} - {v.title}",
            "parent_id": p.id,
        }
        if as_product:  # GET /products/{variation id}: the product shape of a variation
            body.update(type="variation", slug=f"{p.handle}-{v.title.lower()}", variations=[])
        return body

    def customer_payload(self, customer_id: int) -> dict[str, Any]:
        """``GET /customers/{id}``: what a customer webhook carries."""
        customer = self.store.customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        return self._customer(customer)

    def _customer(self, c: FakeCustomer) -> dict[str, Any]:
        return {
            "id": c.id,
            **self._stamps("date_created", c.created_at),
            **self._stamps("date_modified", c.updated_at),
            "email": c.email,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "role": "customer",
            "username": c.email.split("@", 1)[0],
            "billing": {"first_name": c.first_name, "last_name": c.last_name, "email": c.email, "phone": ""},
            "shipping": {"first_name": c.first_name, "last_name": c.last_name},
            "is_paying_customer": True,
            "avatar_url": "https://secure.gravatar.com/avatar/0?s=96&d=mm&r=g",
            "meta_data": [],
        }

    # --- webhooks --------------------------------------------------------------------------------------
    def _webhook(self, w: FakeWebhook) -> dict[str, Any]:
        resource, _, event = w.topic.partition(".")
        return {  # ``secret`` is write-only
            "id": w.id,
            "name": w.name,
            "status": w.status,
            "topic": w.topic,
            "resource": resource,
            "event": event,
            "hooks": [],
            "delivery_url": w.delivery_url,
            **self._stamps("date_created", w.created_at),
            **self._stamps("date_modified", w.modified_at),
            "_links": {"self": [{"href": f"{self.url}{API}/webhooks/{w.id}"}]},
        }

    def _webhook_create(self, request: Request) -> Reply:
        body = request.json() or {}
        topic, url = str(body.get("topic") or ""), str(body.get("delivery_url") or "")
        if not topic or not url:
            return _error(400, "rest_missing_callback_param", "Missing parameter(s): topic, delivery_url")
        if not TOPIC.match(topic):
            return _error(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic must be valid.")
        now = datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0)
        with self.lock:
            self._webhook_ids += 1
            hook = FakeWebhook(
                id=self._webhook_ids,
                name=str(body.get("name") or topic),
                topic=topic,
                delivery_url=url,
                secret=str(body.get("secret") or secrets.token_hex(16)),
                status=str(body.get("status") or "active"),
                created_at=now,
                modified_at=now,
            )
            self.webhooks[hook.id] = hook
        return Reply(201, self._webhook(hook))

    def _webhook_update(self, webhook_id: int, request: Request) -> Reply:
        body = request.json() or {}
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                return _error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
            if "topic" in body:
                if not TOPIC.match(str(body["topic"])):
                    return _error(
                        400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic must be valid."
                    )
                hook.topic = str(body["topic"])
            for name in ("name", "secret", "status", "delivery_url"):
                if name in body:
                    setattr(hook, name, str(body[name]))
            hook.modified_at = datetime.fromtimestamp(self.clock(), UTC).replace(microsecond=0)
        return Reply(200, self._webhook(hook))

    def signed_delivery(
        self, topic: str, payload: Any, *, secret: str | None = None, webhook_id: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A delivery as WooCommerce sends it: the body, and headers signed with ``secret`` (by
        default the secret of the active webhook registered for ``topic``)."""
        if secret is None or webhook_id is None:
            hook = self.webhook_for(topic)
            secret = hook.secret if secret is None else secret
            webhook_id = hook.id if webhook_id is None else webhook_id
        body = wp_json_encode(payload)
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-WC-Webhook-Source": f"{self.url}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": woocommerce_webhook_signature(secret, body),
            "X-WC-Webhook-ID": str(webhook_id),
            "X-WC-Webhook-Delivery-ID": secrets.token_hex(16),
        }
        return body, headers

    def deliver(self, topic: str, payload: Any, *, timeout: float = 10) -> list[requests.Response]:
        """POST a signed delivery of ``topic`` to every active webhook registered for it."""
        with self.lock:
            hooks = [w for w in self.webhooks.values() if w.topic == topic and w.status == "active"]
        if not hooks:
            raise KeyError(f"no active webhook for {topic}")
        responses = []
        for hook in hooks:
            body, headers = self.signed_delivery(topic, payload, secret=hook.secret, webhook_id=hook.id)
            responses.append(requests.post(hook.delivery_url, data=body, headers=headers, timeout=timeout))
        return responses

    def ping(self, webhook_id: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The creation ping: form-encoded ``webhook_id=…``, no ``X-WC-*`` headers, no signature."""
        if webhook_id is None:
            with self.lock:
                webhook_id = max(self.webhooks, default=1)
        return (
            f"webhook_id={webhook_id}".encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
        )

    def deliver_ping(self, webhook_id: int, *, timeout: float = 10) -> requests.Response:
        body, headers = self.ping(webhook_id)
        return requests.post(
            self.webhooks[webhook_id].delivery_url, data=body, headers=headers, timeout=timeout
        )


class _Refusal(Exception):
    """A request refused while its list parameters were read (a 400 to send back)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply
