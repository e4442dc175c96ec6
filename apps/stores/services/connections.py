"""Connecting stores: the platforms' install flows, credentials (encrypted at rest, refreshed before
they expire, never logged), and the adapter for a connected store.

Connecting is two steps. The request (an OAuth callback, or an Admin pasting WooCommerce keys) checks
what it is given, stores the credentials and a ``connecting`` store, and enqueues ``stores.connect``;
that task registers the webhooks, runs the initial full sync of every resource and computes the
baseline, then the store is ``active``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.tenant_context import require_tenant
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.integrations.base import Adapter, PlatformError
from apps.stores.integrations.signatures import shopify_query_valid
from apps.stores.integrations.versions import SHOPIFY_API_VERSION
from apps.stores.models import StoreConnection

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
    scopes: str = "",
    api_version: str = "",
    expires_in: int | None = None,
    webhook_secret: str = "",
) -> StoreConnection:
    """Create the store (or reconnect it: same platform and domain), status ``connecting``."""
    store = (
        StoreConnection.objects.select_for_update().filter(platform=platform, shop_domain=shop_domain).first()
    )
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
    _enqueue_connect(store)
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


@transaction.atomic
def shopify_connect(
    *,
    params: Mapping[str, str | Sequence[str]],
    expected_state: str | None,
    actor: str,
    now: float | None = None,
) -> StoreConnection:
    """The OAuth callback: HMAC (hex, over the sorted query), a fresh timestamp, the state nonce
    bound to the Admin's session and a real shop domain, then the code is exchanged for an
    expiring offline token."""
    require_tenant("connecting a store")
    from apps.stores.integrations.shopify.adapter import ShopifyAdapter, token_request

    shop = shopify_shop_check(str(params.get("shop") or ""))
    state = params.get("state")
    if not expected_state or not isinstance(state, str) or not secrets.compare_digest(state, expected_state):
        raise StoresError(
            ErrorCode.PERMISSION_DENIED, "This install link is not from your session; start again."
        )
    if not shopify_query_valid(settings.KIKI_SHOPIFY_CLIENT_SECRET, params, now=now):
        raise StoresError(
            ErrorCode.PERMISSION_DENIED, "The callback's signature is invalid or too old; start again."
        )
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
    )


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
    _set_credentials(
        store,
        {
            **creds,
            "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token", creds["refresh_token"]),
        },
        expires_in=token.get("expires_in"),
    )
    StoreConnection.objects.filter(pk=store.pk).update(
        credentials=store.credentials, token_expires_at=store.token_expires_at
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

        return ShopifyAdapter(
            api_base=shopify_api_base(store.shop_domain), access_token=creds["access_token"], **options
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


def store_finish_connect(*, store_id: int, actor: str) -> StoreConnection:
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
        adapter.register_webhooks(address=webhook_address(store))
    except PlatformError as exc:
        if exc.transient:
            raise sync.SyncInterrupted(str(exc)) from exc
        StoreConnection.objects.filter(pk=store.pk).update(
            status=StoreConnection.Status.ERROR, last_error=str(exc)[:2000]
        )
        store.refresh_from_db()
        return store
    for run in sync.sync_store_all(store=store, mode="full", actor=actor, enqueue=False):
        finished = sync.sync_run_execute(run_id=run.pk)
        if finished.state != "done":
            StoreConnection.objects.filter(pk=store.pk).update(status=StoreConnection.Status.ERROR)
            store.refresh_from_db()
            return store
    baseline.baseline_compute(store=store, actor=actor)
    StoreConnection.objects.filter(pk=store.pk).update(status=StoreConnection.Status.ACTIVE, last_error="")
    store.refresh_from_db()
    logger.info("store connected", extra={"store_id": store.pk, "platform": store.platform})
    return store
