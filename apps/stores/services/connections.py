"""Connecting stores: the platforms' install flows, credentials (encrypted at rest, refreshed before
they expire, never logged), and the adapter for a connected store.

Connecting is two steps. The request (an OAuth callback, or an Admin pasting WooCommerce keys) checks
what it is given, stores the credentials and a ``connecting`` store, and enqueues ``stores.connect``;
that task registers the webhooks, runs the initial full sync of every resource and computes the
baseline, then the store is ``active``.

Install nonces (Shopify's ``state``, WooCommerce's ``user_id``, BigCommerce's install cookie) are one
pattern: random, bound in the cache to the workspace (and shop or store URL, and Admin), 10 minutes,
spent by the first callback that presents them. Connecting a Shopify or BigCommerce store also points
that shop's app-level callbacks (public host) at this workspace: ``apps.stores.routing``.

Each change to a store connection (connect or reconnect, a refreshed token, the connect task's outcome)
writes its audit entry in the same transaction, naming credentials but never their values.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from apps.core.actor import Actor
from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.integrations.base import Adapter, PlatformError
from apps.stores.integrations.signatures import shopify_query_valid
from apps.stores.integrations.versions import SHOPIFY_API_VERSION
from apps.stores.models import StoreConnection
from apps.stores.routing.services import route_register
from apps.stores.services._audit import store_audit, store_audit_state

logger = logging.getLogger(__name__)

SHOPIFY_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
REFRESH_MARGIN = timedelta(minutes=5)


def credentials_of(store: StoreConnection) -> dict[str, Any]:
    return json.loads(store.credentials) if store.credentials else {}


def _set_credentials(
    store: StoreConnection, values: Mapping[str, Any], *, expires_in: int | None = None
) -> None:
    store.credentials = json.dumps(dict(values))
    store.token_expires_at = timezone.now() + timedelta(seconds=expires_in) if expires_in else None


def shopify_api_base(shop: str) -> str:
    return settings.KIKI_SHOPIFY_API_BASE.format(shop=shop)


def _enqueue_connect(store: StoreConnection) -> None:
    from apps.stores.tasks import connect_store

    schema = require_tenant("connecting a store")
    transaction.on_commit(
        lambda: connect_store.apply_async(kwargs={"store_id": store.pk}, headers={"_schema_name": schema})
    )


def _save_connecting(
    *,
    platform: str,
    shop_domain: str,
    name: str,
    currency: str,
    credentials: Mapping[str, Any],
    actor: Actor,
    scopes: str = "",
    api_version: str = "",
    expires_in: int | None = None,
    webhook_secret: str = "",
) -> StoreConnection:
    """Create the store (or reconnect it: same platform and domain), status ``connecting``; audited as
    ``store.connect`` (``before`` is the reconnected store as it was)."""
    store = (
        StoreConnection.objects.select_for_update().filter(platform=platform, shop_domain=shop_domain).first()
    )
    before = store_audit_state(store) if store is not None else None
    if store is None:
        store = StoreConnection(platform=platform, shop_domain=shop_domain, name=name, currency=currency)
        store.connected_at = timezone.now()
    store.status = StoreConnection.Status.CONNECTING
    store.granted_scopes = scopes
    store.api_version = api_version
    store.last_error = ""
    if webhook_secret:
        store.webhook_secret = webhook_secret
    _set_credentials(store, credentials, expires_in=expires_in)
    try:
        with transaction.atomic():
            store.save()
    except IntegrityError as exc:  # pragma: no cover - the select_for_update above serialises
        raise StoresError(ErrorCode.CONFLICT, "This shop is being connected by another request.") from exc
    route_register(platform=platform, key=shop_domain)  # app-level callbacks now reach this workspace
    _enqueue_connect(store)
    secret_state = {"webhook_secret": "set"} if webhook_secret else {}
    store_audit(
        store=store,
        actor=actor,
        action="store.connect",
        before=before,
        after=store_audit_state(store, credential_keys=sorted(credentials), **secret_state),
    )
    logger.info("store connecting", extra={"store_id": store.pk, "platform": platform})
    return store


# --- Shopify ------------------------------------------------------------------------------------------
def shopify_shop_check(shop: str) -> str:
    shop = (shop or "").strip().lower()
    if not SHOPIFY_SHOP.match(shop):
        raise StoresError(
            ErrorCode.VALIDATION,
            "A Shopify shop is named like acme.myshopify.com.",
            details={"shop": ["Use the shop's myshopify.com domain."]},
        )
    return shop


def shopify_install_url(*, shop: str, redirect_uri: str, state: str) -> str:
    """Where to send the Admin: Shopify's authorize page for our app (offline, expiring token)."""
    if not settings.KIKI_SHOPIFY_CLIENT_ID:
        raise StoresError(
            ErrorCode.VALIDATION, "Shopify is not configured (KIKI_SHOPIFY_CLIENT_ID is empty)."
        )
    from urllib.parse import urlencode

    query = urlencode(
        {
            "client_id": settings.KIKI_SHOPIFY_CLIENT_ID,
            "scope": settings.KIKI_SHOPIFY_SCOPES,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{shopify_api_base(shopify_shop_check(shop))}/admin/oauth/authorize?{query}"


STATE_TTL_S = 600


def _state_key(state: str, kind: str = "oauth") -> str:
    return f"kiki:stores:{kind}-state:{state}"


def _bind_state(kind: str, bound: Mapping[str, Any]) -> str:
    """A fresh single-use nonce, bound (in the cache, 10 minutes) to what the callback must match."""
    state = secrets.token_urlsafe(24)
    cache.set(_state_key(state, kind), dict(bound), STATE_TTL_S)
    return state


def _take_bound(kind: str, state: object) -> dict[str, Any] | None:
    """What ``state`` was bound to, once: only the caller whose delete removes it gets it."""
    if not isinstance(state, str) or not state or len(state) > 100:
        return None
    key = _state_key(state, kind)
    bound = cache.get(key)
    if bound is None or not cache.delete(key):
        return None
    return dict(bound)


def shopify_install_start(*, shop: str, redirect_uri: str, actor: Actor) -> str:
    """The install URL, with a single-use state nonce bound to this workspace, the shop and the Admin
    who started it (kept 10 minutes). The callback must bring it back."""
    schema = require_tenant("connecting a store")
    shop = shopify_shop_check(shop)
    state = _bind_state("oauth", {"schema": schema, "shop": shop, "actor": actor.as_dict()})
    return shopify_install_url(shop=shop, redirect_uri=redirect_uri, state=state)


def _take_state(state: object, shop: str) -> Actor:
    """The Admin who started the install, if ``state`` is one we issued here for this shop."""
    schema = require_tenant("connecting a store")
    bound = _take_bound("oauth", state)
    if not bound or bound["schema"] != schema or bound["shop"] != shop:
        raise StoresError(
            ErrorCode.PERMISSION_DENIED, "This install link was not started here, or it expired; start again."
        )
    return Actor.from_dict(bound["actor"])


@transaction.atomic
def shopify_connect(
    *, params: Mapping[str, str | Sequence[str]], now: float | None = None
) -> StoreConnection:
    """The OAuth callback: HMAC (hex, over the sorted query), a fresh timestamp, a real shop domain
    and the single-use state nonce we issued for it, then the code is exchanged for an expiring
    offline token."""
    require_tenant("connecting a store")
    from apps.stores.integrations.shopify.adapter import ShopifyAdapter, token_request

    shop = shopify_shop_check(str(params.get("shop") or ""))
    if not shopify_query_valid(settings.KIKI_SHOPIFY_CLIENT_SECRET, params, now=now):
        raise StoresError(
            ErrorCode.PERMISSION_DENIED, "The callback's signature is invalid or too old; start again."
        )
    actor = _take_state(params.get("state"), shop)
    base = shopify_api_base(shop)
    try:
        token = token_request(
            api_base=base,
            client_id=settings.KIKI_SHOPIFY_CLIENT_ID,
            client_secret=settings.KIKI_SHOPIFY_CLIENT_SECRET,
            code=str(params.get("code") or ""),
        )
        info = ShopifyAdapter(api_base=base, access_token=token["access_token"]).shop()
    except PlatformError as exc:
        raise StoresError(ErrorCode.UPSTREAM, f"Shopify refused the connection: {exc}") from None
    logger.info("shopify install completed", extra={"actor": actor.label})
    return _save_connecting(
        platform=StoreConnection.Platform.SHOPIFY,
        shop_domain=shop,
        name=info.name,
        currency=info.currency,
        credentials={
            "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token", ""),
        },
        scopes=str(token.get("scope", "")),
        api_version=SHOPIFY_API_VERSION,
        expires_in=token.get("expires_in"),
        actor=actor,
    )


# --- WooCommerce -----------------------------------------------------------------------------------------
def store_url_check(url: str) -> str:
    """A store's site URL: https (plain http only with ``KIKI_STORES_ALLOW_HTTP``, for loopback fakes),
    no credentials or query in it, and never an address inside a private network (we would be
    calling into our own infrastructure). The platform itself is reached later, by the connect task."""
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    problems = []
    allowed = ("https", "http") if settings.KIKI_STORES_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        problems.append("Use the store's https:// address.")
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        problems.append("Only the site's address, e.g. https://shop.example.com.")
    elif _private_host(parts.hostname):
        problems.append("A store on a private or local address cannot be reached from KIKI.")
    if problems:
        raise StoresError(ErrorCode.VALIDATION, problems[0], details={"store_url": problems})
    return url


def _private_host(host: str) -> bool:
    """An IP literal (or localhost) that is not public; loopback is allowed with KIKI_STORES_ALLOW_HTTP."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" and not settings.KIKI_STORES_ALLOW_HTTP
    if ip.is_loopback:
        return not settings.KIKI_STORES_ALLOW_HTTP
    return ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified


@transaction.atomic
def woocommerce_connect(
    *, store_url: str, consumer_key: str, consumer_secret: str, actor: Actor
) -> StoreConnection:
    """An Admin pasted a WooCommerce REST key pair: stored encrypted, with a webhook secret of ours.
    The connect task checks them against the store, registers the webhooks and syncs."""
    require_tenant("connecting a store")
    url = store_url_check(store_url)
    errors = {}
    if not consumer_key.startswith("ck_") or len(consumer_key) > 200:
        errors["consumer_key"] = ["A WooCommerce consumer key starts with ck_."]
    if not consumer_secret.startswith("cs_") or len(consumer_secret) > 200:
        errors["consumer_secret"] = ["A WooCommerce consumer secret starts with cs_."]
    if errors:
        raise StoresError(ErrorCode.VALIDATION, "The key pair is not a WooCommerce key pair.", details=errors)
    store = _save_connecting(
        platform=StoreConnection.Platform.WOOCOMMERCE,
        shop_domain=url,
        name=urlsplit(url).hostname or url,
        currency="USD",  # replaced by the store's own currency when the connect task reads it
        credentials={"consumer_key": consumer_key, "consumer_secret": consumer_secret},
        webhook_secret=new_webhook_secret(),
        actor=actor,
    )
    logger.info("woocommerce keys stored", extra={"store_id": store.pk, "actor": actor.label})
    return store


WOOCOMMERCE_APP_NAME = "KIKI"
# Keys must be read_write: the connect task registers the store's webhooks (a write), and a
# read-only key would leave the store in error after the first sync. WooCommerce grants exactly the
# scope we ask for, so any other ``key_permissions`` means the request was altered: refused.
WOOCOMMERCE_KEY_SCOPE = "read_write"


def woocommerce_authorize_start(*, store_url: str, return_url: str, callback_url: str, actor: Actor) -> str:
    """Where to send the Admin: the store's ``/wc-auth/v1/authorize`` page (api-contracts.md §2),
    asking for read_write keys. ``user_id`` is a single-use nonce bound to this workspace, the store
    URL and the Admin (10 minutes): WooCommerce echoes it with the keys it POSTs to ``callback_url``."""
    schema = require_tenant("connecting a store")
    url = store_url_check(store_url)
    nonce = _bind_state("woocommerce", {"schema": schema, "store_url": url, "actor": actor.as_dict()})
    query = urlencode(
        {
            "app_name": WOOCOMMERCE_APP_NAME,
            "scope": WOOCOMMERCE_KEY_SCOPE,
            "user_id": nonce,
            "return_url": return_url,
            "callback_url": callback_url,
        }
    )
    return f"{url}/wc-auth/v1/authorize?{query}"


@transaction.atomic
def woocommerce_keys_receive(
    *, user_id: object, consumer_key: str, consumer_secret: str, key_permissions: str
) -> StoreConnection:
    """WooCommerce's POST of the keys it generated to our callback URL. Only a nonce issued in this
    workspace, unused and unexpired, is accepted (it is spent here, whatever follows); the store URL
    and the Admin come from the nonce, never from the body. The keys then take the pasted-keys path."""
    schema = require_tenant("connecting a store")
    bound = _take_bound("woocommerce", user_id)
    if not bound or bound["schema"] != schema:
        raise StoresError(
            ErrorCode.PERMISSION_DENIED,
            "These keys answer no connection started in this workspace, or it expired; start again.",
        )
    if key_permissions != WOOCOMMERCE_KEY_SCOPE:
        raise StoresError(
            ErrorCode.VALIDATION,
            "KIKI needs a Read/Write key (it registers webhooks); nothing was stored.",
            details={"key_permissions": [f"Expected {WOOCOMMERCE_KEY_SCOPE}."]},
        )
    store = woocommerce_connect(
        store_url=bound["store_url"],
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        actor=Actor.from_dict(bound["actor"]),
    )
    cache.set(_state_key(str(user_id), "woocommerce-done"), store.pk, STATE_TTL_S)
    return store


def woocommerce_authorize_finish(*, user_id: str, approved: bool) -> StoreConnection | None:
    """The Admin is back from the store (``return_url``): the store the keys connected, if they came.
    Refused (``success=0``): the nonce is spent, so a late key delivery for it is refused too."""
    require_tenant("connecting a store")
    if not approved:
        _take_bound("woocommerce", user_id)
        return None
    if not user_id or len(user_id) > 100:
        return None
    store_id = cache.get(_state_key(user_id, "woocommerce-done"))
    return StoreConnection.objects.filter(pk=store_id).first() if store_id else None


# --- BigCommerce ------------------------------------------------------------------------------------------
@transaction.atomic
def bigcommerce_connect(
    *, code: str, context: str, scope: str, redirect_uri: str, actor: Actor | None = None
) -> StoreConnection:
    """The app's auth callback (BigCommerce's control panel installs the app): the code is exchanged
    for the store's permanent token; ``context`` names the store (``stores/{hash}``). ``actor``: the
    Admin whose install nonce brought the callback here; without one (a reinstall routed by the
    registry) the callback itself."""
    require_tenant("connecting a store")
    actor = actor or Actor.system("oauth:bigcommerce")
    from apps.stores.integrations.bigcommerce.adapter import BigCommerceAdapter
    from apps.stores.integrations.bigcommerce.oauth import store_hash_of, token_request

    if not settings.KIKI_BIGCOMMERCE_CLIENT_ID:
        raise StoresError(
            ErrorCode.VALIDATION, "BigCommerce is not configured (KIKI_BIGCOMMERCE_CLIENT_ID is empty)."
        )
    try:
        store_hash = store_hash_of(context)
    except PlatformError as exc:
        raise StoresError(ErrorCode.VALIDATION, f"Not a BigCommerce install callback: {exc}") from None
    if not code:
        raise StoresError(ErrorCode.VALIDATION, "Not a BigCommerce install callback: no code.")
    try:
        token = token_request(
            login_base=settings.KIKI_BIGCOMMERCE_LOGIN_BASE,
            client_id=settings.KIKI_BIGCOMMERCE_CLIENT_ID,
            client_secret=settings.KIKI_BIGCOMMERCE_CLIENT_SECRET,
            code=code,
            context=context,
            scope=scope,
            redirect_uri=redirect_uri,
        )
        info = BigCommerceAdapter(
            api_base=settings.KIKI_BIGCOMMERCE_API_BASE,
            store_hash=store_hash,
            access_token=token["access_token"],
        ).shop()
    except PlatformError as exc:
        raise StoresError(ErrorCode.UPSTREAM, f"BigCommerce refused the connection: {exc}") from None
    return _save_connecting(
        platform=StoreConnection.Platform.BIGCOMMERCE,
        shop_domain=store_hash,
        name=info.name,
        currency=info.currency,
        credentials={"access_token": token["access_token"]},
        scopes=str(token.get("scope", "")),
        api_version="v3",
        actor=actor,
    )


def bigcommerce_signed_store(*, signed_payload_jwt: str) -> str:
    """The store hash a load/uninstall/remove_user callback names, once its ``signed_payload_jwt``
    verifies with the app's client secret (HS256, aud, iss, sub, exp/nbf): the one check of those
    callbacks, on either host. Needs no workspace. A bad or missing token → 401."""
    from apps.stores.integrations.bigcommerce.oauth import store_hash_of, verify_signed_payload_jwt

    try:
        claims = verify_signed_payload_jwt(
            signed_payload_jwt,
            client_id=settings.KIKI_BIGCOMMERCE_CLIENT_ID,
            client_secret=settings.KIKI_BIGCOMMERCE_CLIENT_SECRET,
        )
        return store_hash_of(str(claims.get("sub", "")))
    except PlatformError as exc:
        raise StoresError(ErrorCode.NOT_AUTHENTICATED, f"Invalid signed payload: {exc}") from None


def _bigcommerce_store(store_hash: str) -> StoreConnection | None:
    return StoreConnection.objects.filter(
        platform=StoreConnection.Platform.BIGCOMMERCE, shop_domain=store_hash
    ).first()


def bigcommerce_load(*, signed_payload_jwt: str) -> StoreConnection:
    """The app's load callback (the merchant opens KIKI in BigCommerce's control panel): the store
    the verified JWT names, in this workspace only (404 otherwise)."""
    require_tenant("opening a store")
    store = _bigcommerce_store(bigcommerce_signed_store(signed_payload_jwt=signed_payload_jwt))
    if store is None:
        raise StoresError(ErrorCode.NOT_FOUND, "This BigCommerce store is not connected to this workspace.")
    return store


def bigcommerce_uninstall(*, signed_payload_jwt: str) -> StoreConnection | None:
    """The app's uninstall callback (a signed JWT naming the store)."""
    require_tenant("uninstalling a store")
    from apps.stores.services.webhooks import store_uninstalled

    store = _bigcommerce_store(bigcommerce_signed_store(signed_payload_jwt=signed_payload_jwt))
    return store_uninstalled(store=store, actor=Actor.system("webhook:bigcommerce")) if store else None


@contextmanager
def _public_namespace() -> Iterator[None]:
    """Cache keys carry the active schema (``django_tenants.cache.make_key``): a nonce the public
    host must read is written and read in the public schema's namespace."""
    with schema_context(get_public_schema_name()):
        yield


def bigcommerce_install_start(*, actor: Actor) -> str:
    """Where to send the Admin who installs our BigCommerce app for this workspace: the public host's
    ``begin`` page. BigCommerce's auth callback is one URL per app, on the public host, and carries
    no state of ours, so the nonce (bound to this workspace and the Admin, single use, 10 minutes)
    becomes a cookie of the public host there, on the browser's way to BigCommerce's install page."""
    from django.urls import reverse

    schema = require_tenant("connecting a store")
    if not settings.KIKI_BIGCOMMERCE_CLIENT_ID:
        raise StoresError(
            ErrorCode.VALIDATION, "BigCommerce is not configured (KIKI_BIGCOMMERCE_CLIENT_ID is empty)."
        )
    with _public_namespace():
        nonce = _bind_state("bigcommerce-install", {"schema": schema, "actor": actor.as_dict()})
    begin = reverse("bigcommerce-app-begin", urlconf=settings.PUBLIC_SCHEMA_URLCONF)
    return f"{settings.KIKI_PUBLIC_ADDRESS.url()}{begin}?{urlencode({'install': nonce})}"


def bigcommerce_install_pending(*, nonce: str) -> bool:
    """Public host: ``nonce`` is an install started in a workspace and not yet used."""
    if not nonce or len(nonce) > 100:
        return False
    with _public_namespace():
        return cache.get(_state_key(nonce, "bigcommerce-install")) is not None


@dataclass(frozen=True)
class InstallClaim:
    schema: str
    actor: Actor


def bigcommerce_install_claim(*, nonce: str) -> InstallClaim | None:
    """Public host, auth callback: the workspace (schema) an install nonce was issued in and the Admin
    who started the install; spent."""
    with _public_namespace():
        bound = _take_bound("bigcommerce-install", nonce)
    return InstallClaim(bound["schema"], Actor.from_dict(bound["actor"])) if bound else None


def bigcommerce_install_url() -> str:
    """BigCommerce's install page for our app (the merchant picks a store and approves there)."""
    return f"{settings.KIKI_BIGCOMMERCE_LOGIN_BASE.rstrip('/')}/app/{settings.KIKI_BIGCOMMERCE_CLIENT_ID}/install"


def _shopify_refresh(store: StoreConnection) -> None:
    from apps.stores.integrations.shopify.adapter import token_request

    creds = credentials_of(store)
    if not creds.get("refresh_token"):
        raise PlatformError("the Shopify token expired and there is no refresh token; reconnect the store")
    token = token_request(
        api_base=shopify_api_base(store.shop_domain),
        client_id=settings.KIKI_SHOPIFY_CLIENT_ID,
        client_secret=settings.KIKI_SHOPIFY_CLIENT_SECRET,
        refresh_token=creds["refresh_token"],
    )
    before = {"token_expires_at": store.token_expires_at}
    _set_credentials(
        store,
        {
            **creds,
            "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token", creds["refresh_token"]),
        },
        expires_in=token.get("expires_in"),
    )
    with transaction.atomic():
        StoreConnection.objects.filter(pk=store.pk).update(
            credentials=store.credentials, token_expires_at=store.token_expires_at
        )
        store_audit(
            store=store,
            actor=Actor.system("stores.credentials_refresh"),
            action="store.refresh_credentials",
            before={"shop_domain": store.shop_domain, **before},
            after={
                "shop_domain": store.shop_domain,
                "token_expires_at": store.token_expires_at,
                "credentials": "refreshed",
            },
        )
    logger.info("store token refreshed", extra={"store_id": store.pk})


def credentials_refresh(*, store: StoreConnection, force: bool = False, now: datetime | None = None) -> bool:
    """Refresh an expiring token before it expires (``force``: now, after a 401). True if refreshed."""
    now = now or timezone.now()
    if store.platform != StoreConnection.Platform.SHOPIFY:
        return False  # WooCommerce keys and BigCommerce tokens do not expire
    if not force and (store.token_expires_at is None or store.token_expires_at - REFRESH_MARGIN > now):
        return False
    _shopify_refresh(store)
    return True


def adapter_for(store: StoreConnection, **options: Any) -> Adapter:
    """The platform adapter of a connected store, with fresh credentials."""
    require_tenant("reaching a store's platform")
    credentials_refresh(store=store)
    creds = credentials_of(store)
    if store.platform == StoreConnection.Platform.SHOPIFY:
        from apps.stores.integrations.shopify.adapter import ShopifyAdapter

        options.setdefault("bulk", settings.KIKI_SHOPIFY_BULK_SYNC)
        return ShopifyAdapter(
            api_base=shopify_api_base(store.shop_domain), access_token=creds["access_token"], **options
        )
    if store.platform == StoreConnection.Platform.BIGCOMMERCE:
        from apps.stores.integrations.bigcommerce.adapter import BigCommerceAdapter

        return BigCommerceAdapter(
            api_base=settings.KIKI_BIGCOMMERCE_API_BASE,
            store_hash=store.shop_domain,
            access_token=creds["access_token"],
            **options,
        )
    if store.platform == StoreConnection.Platform.WOOCOMMERCE:
        from apps.stores.integrations.woocommerce.adapter import WooCommerceAdapter

        return WooCommerceAdapter(
            store_url=store.shop_domain,
            consumer_key=creds["consumer_key"],
            consumer_secret=creds["consumer_secret"],
            webhook_secret=store.webhook_secret,
            **options,
        )
    raise StoresError(ErrorCode.VALIDATION, f"Store {store.pk} ({store.platform}) has no platform to reach.")


def webhook_address(store: StoreConnection) -> str:
    """Where the platform sends this store's webhooks: our tenant host's endpoint for the platform."""
    from apps.governance.tenancy.selectors import current_tenant_base_url

    base = current_tenant_base_url()
    suffix = f"/{store.pk}" if store.platform == StoreConnection.Platform.WOOCOMMERCE else ""
    return f"{base}/webhooks/{store.platform}{suffix}"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def store_finish_connect(*, store_id: int, actor: Actor) -> StoreConnection:
    """Second step of connecting (a task): register the webhooks, run the initial full sync of every
    resource in order, compute the baseline, then the store is ``active``. Safe to run again: the
    syncs resume where a killed run stopped, and registering a webhook twice is not an error."""
    require_tenant("connecting a store")
    from apps.stores.services import baseline, sync

    store = StoreConnection.objects.get(pk=store_id)
    if store.status != StoreConnection.Status.CONNECTING:
        return store
    adapter = adapter_for(store)
    try:
        info = adapter.shop()
        _store_update(store, actor=actor, action="store.update", currency=info.currency.upper()[:3])
        adapter.register_webhooks(address=webhook_address(store))
    except PlatformError as exc:
        if exc.transient:
            raise sync.SyncInterrupted(str(exc)) from exc
        return _store_update(
            store,
            actor=actor,
            action="store.fail",
            status=StoreConnection.Status.ERROR,
            last_error=str(exc)[:2000],
        )
    for run in sync.sync_store_all(store=store, mode="full", actor=actor, enqueue=False):
        finished = sync.sync_run_execute(run_id=run.pk)
        if finished.state != "done":
            return _store_update(store, actor=actor, action="store.fail", status=StoreConnection.Status.ERROR)
    baseline.baseline_compute(store=store, actor=actor)
    from apps.stores.services.orders import store_connected

    schema = require_tenant("connecting a store")
    with transaction.atomic():
        store = _store_update(
            store, actor=actor, action="store.activate", status=StoreConnection.Status.ACTIVE, last_error=""
        )
        transaction.on_commit(
            lambda: store_connected.send(sender=StoreConnection, schema=schema, store_id=store.pk)
        )
    logger.info("store connected", extra={"store_id": store.pk, "platform": store.platform})
    return store


def _store_update(store: StoreConnection, *, actor: Actor, action: str, **values: Any) -> StoreConnection:
    """Set fields of a store (``status``, ``last_error``, ``currency``) and audit the change, in one
    transaction; a store already so is left as it is, unaudited. Returns the store as stored."""
    with transaction.atomic():
        locked = StoreConnection.objects.select_for_update().get(pk=store.pk)
        changed = sorted(k for k, v in values.items() if getattr(locked, k) != v)
        if changed:
            before = {"shop_domain": locked.shop_domain, **{k: getattr(locked, k) for k in changed}}
            StoreConnection.objects.filter(pk=locked.pk).update(**{k: values[k] for k in changed})
            store_audit(
                store=locked,
                actor=actor,
                action=action,
                before=before,
                after={"shop_domain": locked.shop_domain, **{k: values[k] for k in changed}},
            )
    store.refresh_from_db()
    return store
