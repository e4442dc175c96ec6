"""App-level platform callbacks on the public host (``kiki_project.urls_public``).

Some callbacks are configured once per app, not per workspace, so they reach one URL on the public
host: Shopify's mandatory compliance webhooks (``customers/data_request``, ``customers/redact``,
``shop/redact``; any other topic subscribed in the app's configuration is handled alike) and
BigCommerce's auth, load and uninstall callbacks. Each is handled in the same order:

1. The platform's signature is verified first, on the raw bytes, with the app's secret (Shopify:
   base64 HMAC-SHA256 of the body; BigCommerce: the ``signed_payload_jwt``). Bad or missing → 401,
   nothing read further, nothing stored.
2. The shop is looked up in the public registry (``apps.stores.routing``, kept by the connect,
   uninstall and redact services). A shop no workspace holds → 404, nothing stored.
3. The request is handed, inside that workspace's schema (``tenant_context``), to the same tenant-side
   code the workspace's own host runs (``apps.stores.views.deliver`` and the ``connections``
   services). A delivery for a shop is therefore only ever written into the workspace the registry
   names. A suspended workspace answers 403, as its own host would.

BigCommerce's auth callback has no workspace yet and carries no state of ours. Choice: the install
starts in a workspace. Its Admin opens "Install on BigCommerce" (``/stores/connect/bigcommerce`` on the
workspace host), which issues a single-use nonce (bound to the workspace and the Admin, 10 minutes)
and sends the browser through ``begin`` here. ``begin`` keeps the nonce in an HttpOnly cookie of the
public host and forwards to BigCommerce's install page. When BigCommerce sends the same browser to
``auth``, the cookie names the workspace and the nonce is spent. Without a cookie, a store the registry
already routes (a reinstall) goes back to its workspace; anything else → 404 with what to do, and the
code is not exchanged. Listing the Admin's workspaces was not chosen: users live in each workspace's
schema, so the public host knows no one to list them for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_tenants.utils import tenant_context

from apps.core.logging import tenant_var
from apps.core.middleware import error_response
from apps.governance.tenancy.selectors import tenant_base_url
from apps.stores.errors import StoresError
from apps.stores.integrations.base import PlatformError
from apps.stores.integrations.bigcommerce.oauth import store_hash_of
from apps.stores.integrations.receivers import RECEIVERS
from apps.stores.routing.selectors import route_tenant, tenant_for_schema
from apps.stores.services import connections
from apps.stores.views import _answer, deliver, read_delivery

INSTALL_COOKIE = "kiki_bc_install"
INSTALL_COOKIE_PATH = "/stores/oauth/bigcommerce/"
ROUTED_WEBHOOKS = ("shopify",)  # BigCommerce hooks are registered per store, on the workspace host


class _Suspended(Exception):
    pass


@contextmanager
def _in_workspace(tenant: Any) -> Iterator[None]:
    """Run in the workspace's schema (and log with it), as its own host would; refuse a suspended one."""
    if not tenant.is_active:
        raise _Suspended
    token = tenant_var.set(tenant.schema_name)
    try:
        with tenant_context(tenant):
            yield
    finally:
        tenant_var.reset(token)


def _suspended(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        status=403,
        code="tenant_suspended",
        message="This workspace is suspended. Contact KIKI support to restore access.",
    )


def _error(request: HttpRequest, exc: StoresError) -> HttpResponse:
    return error_response(request, status=exc.http_status, code=exc.code, message=exc.message)


def _store_page(tenant: Any, store_id: int) -> str:
    """The store's admin page on its workspace's host (this request is on the public host)."""
    path = reverse("admin:stores_storeconnection_change", args=[store_id], urlconf=settings.ROOT_URLCONF)
    return f"{tenant_base_url(tenant)}{path}"


# --- Shopify (compliance and other app-level webhooks) ----------------------------------------------------
@csrf_exempt
@require_POST
def app_webhook(request: HttpRequest, platform: str) -> HttpResponse:
    if platform not in ROUTED_WEBHOOKS:
        return error_response(request, status=404, code="not_found", message="No such webhook endpoint.")
    receiver = RECEIVERS[platform]
    body = read_delivery(request, platform)
    if isinstance(body, HttpResponse):
        return body
    headers = {k.lower(): v for k, v in request.headers.items()}
    if not receiver.verify(headers, body, ""):
        return _answer(platform, "bad_signature", 401, "The delivery's signature is missing or invalid.")
    identity = receiver.identify(headers, body, None)
    tenant = route_tenant(platform=platform, key=str(identity.store_key.get("shop_domain", "")))
    if tenant is None:
        return _answer(platform, "unknown_store", 404, "No workspace holds this shop.")
    try:
        with _in_workspace(tenant):
            return deliver(platform, None, headers, body)
    except _Suspended:
        return _suspended(request)


# --- BigCommerce app callbacks ------------------------------------------------------------------------
@require_GET
def bigcommerce_begin(request: HttpRequest) -> HttpResponse:
    """The Admin's browser on its way from their workspace to BigCommerce: keep the install nonce."""
    nonce = request.GET.get("install", "")
    if not connections.bigcommerce_install_pending(nonce=nonce):
        return error_response(
            request,
            status=403,
            code="permission_denied",
            message="This install link was not started in a workspace, or it expired; start again.",
        )
    response = HttpResponseRedirect(connections.bigcommerce_install_url())
    response.set_cookie(
        INSTALL_COOKIE,
        nonce,
        max_age=connections.STATE_TTL_S,
        path=INSTALL_COOKIE_PATH,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


@require_GET
def bigcommerce_auth(request: HttpRequest) -> HttpResponse:
    """BigCommerce installs the app (``?code&context&scope``): the workspace from the install cookie, or
    the registry for a store already routed; then the workspace's own connect (code exchange)."""
    context = request.GET.get("context", "")
    try:
        store_hash = store_hash_of(context)
    except PlatformError:
        return error_response(
            request, status=400, code="validation_error", message="Not a BigCommerce install callback."
        )
    claim = connections.bigcommerce_install_claim(nonce=request.COOKIES.get(INSTALL_COOKIE, ""))
    tenant = (
        tenant_for_schema(claim.schema) if claim else route_tenant(platform="bigcommerce", key=store_hash)
    )
    if tenant is None:
        return error_response(
            request,
            status=404,
            code="unknown_store",
            message="Install KIKI from your KIKI workspace: Stores → Connect a store → Install on BigCommerce.",
        )
    try:
        with _in_workspace(tenant):
            store = connections.bigcommerce_connect(
                code=request.GET.get("code", ""),
                context=context,
                scope=request.GET.get("scope", ""),
                redirect_uri=request.build_absolute_uri(request.path),
                actor=claim.actor if claim else None,
            )
            page = _store_page(tenant, store.pk)
    except _Suspended:
        return _suspended(request)
    except StoresError as exc:
        return _error(request, exc)
    response = HttpResponseRedirect(page)
    response.delete_cookie(INSTALL_COOKIE, path=INSTALL_COOKIE_PATH)
    return response


def _signed_workspace(request: HttpRequest) -> tuple[str, Any]:
    """Verify the ``signed_payload_jwt`` first (401), then the workspace holding its store (404)."""
    store_hash = connections.bigcommerce_signed_store(
        signed_payload_jwt=request.GET.get("signed_payload_jwt", "")
    )
    tenant = route_tenant(platform="bigcommerce", key=store_hash)
    if tenant is None:
        raise StoresError("unknown_store", "No workspace holds this store.", http_status=404)
    return store_hash, tenant


@require_GET
def bigcommerce_load(request: HttpRequest) -> HttpResponse:
    """The merchant opens the app in BigCommerce's control panel: on to the store's page."""
    try:
        _, tenant = _signed_workspace(request)
        with _in_workspace(tenant):
            store = connections.bigcommerce_load(signed_payload_jwt=request.GET.get("signed_payload_jwt", ""))
            page = _store_page(tenant, store.pk)
    except _Suspended:
        return _suspended(request)
    except StoresError as exc:
        return _error(request, exc)
    return HttpResponseRedirect(page)


@require_GET
def bigcommerce_uninstall(request: HttpRequest) -> HttpResponse:
    """The merchant removed the app: the workspace's store is uninstalled (credentials dropped)."""
    try:
        _, tenant = _signed_workspace(request)
        with _in_workspace(tenant):
            connections.bigcommerce_uninstall(signed_payload_jwt=request.GET.get("signed_payload_jwt", ""))
    except _Suspended:
        return _suspended(request)
    except StoresError as exc:
        return _error(request, exc)
    return JsonResponse({"status": "uninstalled"})
