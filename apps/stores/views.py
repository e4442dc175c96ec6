"""Webhook endpoints (one per platform on the tenant host) and the pages of the install flows: Shopify's
OAuth, WooCommerce's key generation (start, the keys' callback, the return), BigCommerce's install
start and its per-workspace app callbacks (auth, load, uninstall). The app-level callbacks on the
public host are in ``public_views``; they hand over to ``deliver`` and the same services.

Webhooks: the signature is verified on the raw bytes before anything is parsed. Bad or missing → 401,
nothing stored, a counter goes up. Over ``KIKI_WEBHOOK_MAX_BYTES`` → 413. A valid delivery is stored
once (a duplicate is acknowledged and changes nothing) and answered 200 at once; a task processes it.
A verified delivery whose body is not JSON is kept as failed (an Admin sees why) and answered 400.
The store is looked up in this host's workspace only, so a delivery for another workspace's shop
finds nothing (404) and writes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.core.actor import Actor
from apps.core.middleware import error_response
from apps.core.tenant_context import current_schema
from apps.stores.errors import ErrorCode, StoresError
from apps.stores.integrations.receivers import RECEIVERS, json_or_error
from apps.stores.metrics import WEBHOOKS
from apps.stores.models import StoreConnection
from apps.stores.services import connections
from apps.stores.services.webhooks import webhook_receive

_STORES: dict[tuple[str, str, str], tuple[float, StoreConnection]] = {}
_STORE_TTL_S = 60.0


def _store_for(platform: str, key: dict[str, Any]) -> StoreConnection | None:
    """The store a delivery names, in this host's workspace; remembered a minute per process (a
    platform sends bursts for one shop). Only the id and platform are used here: processing reads
    the store afresh, so a store uninstalled meanwhile still refuses the delivery's writes."""
    cache_key = (current_schema(), platform, json.dumps(key, sort_keys=True))
    hit = _STORES.get(cache_key)
    if hit is not None and time.monotonic() - hit[0] < _STORE_TTL_S:
        return hit[1]
    store = StoreConnection.objects.filter(platform=platform, **key).only("pk", "platform").first()
    if store is not None:
        if len(_STORES) > 10_000:
            _STORES.clear()
        _STORES[cache_key] = (time.monotonic(), store)
    return store


def forget_stores(*args: Any, **kwargs: Any) -> None:
    """A store was saved or deleted in this process: look stores up afresh."""
    _STORES.clear()


def _answer(platform: str, outcome: str, status: int, message: str) -> JsonResponse:
    WEBHOOKS.labels(platform=platform, outcome=outcome).inc()
    body: dict[str, Any] = (
        {"status": outcome}
        if status < 400
        else {"error": {"code": outcome, "message": message, "details": {}}}
    )
    return JsonResponse(body, status=status)


def read_delivery(request: HttpRequest, platform: str) -> bytes | HttpResponse:
    """The raw body, at most ``KIKI_WEBHOOK_MAX_BYTES`` (413 beyond), never parsed here."""
    limit = settings.KIKI_WEBHOOK_MAX_BYTES
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        return _answer(platform, "too_large", 413, f"Deliveries are at most {limit} bytes.")
    body = request.read(limit + 1)
    if len(body) > limit:
        return _answer(platform, "too_large", 413, f"Deliveries are at most {limit} bytes.")
    return body


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, platform: str, store_id: int | None = None) -> HttpResponse:
    if platform not in RECEIVERS:
        return error_response(request, status=404, code="not_found", message="No such webhook endpoint.")
    body = read_delivery(request, platform)
    if isinstance(body, HttpResponse):
        return body
    return deliver(platform, store_id, {k.lower(): v for k, v in request.headers.items()}, body)


def deliver(platform: str, store_id: int | None, headers: dict[str, str], body: bytes) -> HttpResponse:
    """A delivery in the active workspace: verified, matched to a store of this workspace, stored
    once. The public host hands its routed deliveries here too, inside the routed workspace."""
    receiver = RECEIVERS[platform]
    if receiver.is_ping(headers, body):
        return _answer(platform, "ping", 200, "")
    store = None
    if receiver.secret_per_store:
        store = (
            StoreConnection.objects.filter(pk=store_id, platform=platform).first()
            if store_id is not None
            else None
        )
        if store is None:
            return _answer(platform, "unknown_store", 404, "No such store in this workspace.")
    if not receiver.verify(headers, body, store.webhook_secret if store else ""):
        return _answer(platform, "bad_signature", 401, "The delivery's signature is missing or invalid.")
    identity = receiver.identify(headers, body, store_id)
    if not identity.topic or not identity.delivery_id:
        return _answer(platform, "malformed", 400, "The delivery has no topic or no delivery id.")
    if store is None:
        store = _store_for(platform, identity.store_key)
        if store is None:
            return _answer(platform, "unknown_store", 404, "No such store in this workspace.")
    _, problem = json_or_error(body)
    try:
        received = webhook_receive(
            store=store,
            topic=identity.topic,
            delivery_id=identity.delivery_id,
            body=body,
            headers=headers,
            parse_error=problem,
        )
    except IntegrityError:  # the remembered store was deleted (shop/redact) and perhaps reconnected
        _STORES.clear()
        store = _store_for(platform, identity.store_key) if not receiver.secret_per_store else None
        if store is None:
            return _answer(platform, "unknown_store", 404, "No such store in this workspace.")
        received = webhook_receive(
            store=store,
            topic=identity.topic,
            delivery_id=identity.delivery_id,
            body=body,
            headers=headers,
            parse_error=problem,
        )
    if received.duplicate:
        return _answer(platform, "duplicate", 200, "")
    if problem:
        return _answer(platform, "malformed", 400, f"Stored as failed: {problem}.")
    return _answer(platform, "accepted", 200, "")


# --- Shopify install (an Admin in the admin or API starts it; Shopify calls back) -------------------------
@login_required
@require_GET
def shopify_install(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("stores.add_storeconnection"):
        return error_response(
            request, status=403, code="permission_denied", message="Only an Admin connects stores."
        )
    try:
        url = connections.shopify_install_start(
            shop=request.GET.get("shop", ""),
            redirect_uri=request.build_absolute_uri(reverse("shopify-callback")),
            actor=Actor.for_user(request.user),
        )
    except StoresError as exc:
        return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)
    return HttpResponseRedirect(url)


@require_GET
def shopify_callback(request: HttpRequest) -> HttpResponse:
    """Shopify sends the merchant here: the state nonce we issued (bound to this workspace, the shop
    and the Admin who started) and the query's HMAC decide, not who is signed in."""
    params = {k: v if len(v) > 1 or k.endswith("[]") else v[0] for k, v in request.GET.lists()}
    try:
        store = connections.shopify_connect(params=params)
    except StoresError as exc:
        return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)
    return HttpResponseRedirect(reverse("admin:stores_storeconnection_change", args=[store.pk]))


# --- WooCommerce key generation (an Admin starts it; the store POSTs the keys, then sends the Admin back) -
WOOCOMMERCE_CALLBACK_MAX_BYTES = 16 * 1024


def _admin_only(request: HttpRequest) -> HttpResponse | None:
    if request.user.has_perm("stores.add_storeconnection"):
        return None
    return error_response(
        request, status=403, code="permission_denied", message="Only an Admin connects stores."
    )


@login_required
@require_GET
def woocommerce_authorize(request: HttpRequest) -> HttpResponse:
    refused = _admin_only(request)
    if refused is not None:
        return refused
    try:
        url = connections.woocommerce_authorize_start(
            store_url=request.GET.get("store_url", ""),
            return_url=request.build_absolute_uri(reverse("woocommerce-return")),
            callback_url=request.build_absolute_uri(reverse("woocommerce-callback")),
            actor=Actor.for_user(request.user),
        )
    except StoresError as exc:
        return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)
    return HttpResponseRedirect(url)


def _error_json(exc: StoresError) -> JsonResponse:
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return JsonResponse(body, status=exc.http_status)


@csrf_exempt
@require_POST
def woocommerce_callback(request: HttpRequest) -> HttpResponse:
    """WooCommerce POSTs the generated keys here (JSON: key_id, user_id, consumer_key, consumer_secret,
    key_permissions). Only 200 counts as accepted there; anything else makes it delete the key. The
    ``user_id`` nonce we issued decides, not who is signed in; errors are JSON in the error shape."""
    body = request.read(WOOCOMMERCE_CALLBACK_MAX_BYTES + 1)
    if len(body) > WOOCOMMERCE_CALLBACK_MAX_BYTES:
        return _error_json(StoresError("too_large", "Not a WooCommerce key delivery.", http_status=413))
    data, problem = json_or_error(body)
    try:
        if problem or not isinstance(data, dict):
            raise StoresError(ErrorCode.VALIDATION, "Not a WooCommerce key delivery (a JSON object).")
        store = connections.woocommerce_keys_receive(
            user_id=data.get("user_id"),
            consumer_key=str(data.get("consumer_key") or ""),
            consumer_secret=str(data.get("consumer_secret") or ""),
            key_permissions=str(data.get("key_permissions") or ""),
        )
    except StoresError as exc:
        return _error_json(exc)
    return JsonResponse({"status": "connecting", "store": store.pk})


@require_GET
def woocommerce_return(request: HttpRequest) -> HttpResponse:
    """The store sends the Admin back: ``success=1`` → the connected store's page; ``success=0`` (the
    Admin refused in WooCommerce) → nothing was connected, and the nonce is spent."""
    approved = request.GET.get("success") == "1"
    store = connections.woocommerce_authorize_finish(
        user_id=request.GET.get("user_id", ""), approved=approved
    )
    if store is not None:
        return HttpResponseRedirect(reverse("admin:stores_storeconnection_change", args=[store.pk]))
    if not approved:
        return error_response(
            request,
            status=403,
            code="access_denied",
            message="The store did not grant KIKI access; nothing was connected.",
        )
    return error_response(
        request,
        status=404,
        code="not_found",
        message="No keys arrived from the store for this connection; start again.",
    )


# --- BigCommerce app callbacks (its control panel installs and removes the app) -------------------------
@login_required
@require_GET
def bigcommerce_install(request: HttpRequest) -> HttpResponse:
    """An Admin installs the app for this workspace: the nonce goes to the public host (which keeps it
    as a cookie for the app's auth callback), then on to BigCommerce. See ``public_views``."""
    refused = _admin_only(request)
    if refused is not None:
        return refused
    try:
        url = connections.bigcommerce_install_start(actor=Actor.for_user(request.user))
    except StoresError as exc:
        return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)
    return HttpResponseRedirect(url)


@require_GET
def bigcommerce_load(request: HttpRequest) -> HttpResponse:
    """The merchant opens the app in BigCommerce: the store's page here (404 if not this workspace's)."""
    try:
        store = connections.bigcommerce_load(signed_payload_jwt=request.GET.get("signed_payload_jwt", ""))
    except StoresError as exc:
        return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)
    return HttpResponseRedirect(reverse("admin:stores_storeconnection_change", args=[store.pk]))


@require_GET
def bigcommerce_auth(request: HttpRequest) -> HttpResponse:
    try:
        store = connections.bigcommerce_connect(
            code=request.GET.get("code", ""),
            context=request.GET.get("context", ""),
            scope=request.GET.get("scope", ""),
            redirect_uri=request.build_absolute_uri(reverse("bigcommerce-auth")),
        )
    except StoresError as exc:
        return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)
    return HttpResponseRedirect(reverse("admin:stores_storeconnection_change", args=[store.pk]))


@require_GET
def bigcommerce_uninstall(request: HttpRequest) -> HttpResponse:
    try:
        connections.bigcommerce_uninstall(signed_payload_jwt=request.GET.get("signed_payload_jwt", ""))
    except StoresError as exc:
        return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)
    return JsonResponse({"status": "uninstalled"})
