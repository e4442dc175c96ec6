"""Request id + tenant resolution (unknown host 404, suspended tenant 403)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name

from apps.core.logging import request_id_var, tenant_var

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def error_response(request: HttpRequest, *, status: int, code: str, message: str) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)
    html = render_to_string("errors/error.html", {"status": status, "code": code, "message": message})
    return HttpResponse(html, status=status)


# Django's own error pages, in our shape: JSON under /api/ (a URL that matches no route, a CSRF
# failure, a crash outside DRF), the error template elsewhere. Both urlconfs name these.
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, status=404, code="not_found", message="Nothing at this address.")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, status=403, code="permission_denied", message="Not allowed.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, status=400, code="bad_request", message="The request is malformed.")


def server_error(request: HttpRequest) -> HttpResponse:
    return error_response(
        request, status=500, code="internal_error", message="An internal error occurred; it has been logged."
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_response(
        request,
        status=403,
        code="csrf_failed",
        message="The form or session expired (CSRF check failed); reload the page and try again.",
    )


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        rid_token = request_id_var.set(request_id)
        tenant_token = tenant_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(rid_token)
            tenant_var.reset(tenant_token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class KikiTenantMiddleware(TenantMainMiddleware):
    """django-tenants' host → schema switch, with our answers for unknown and suspended tenants."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            response = super().process_request(request)
        except self.TENANT_NOT_FOUND_EXCEPTION:
            return error_response(
                request, status=404, code="unknown_host", message="No KIKI workspace at this address."
            )
        if response is not None:
            if response.status_code == 404:
                return error_response(
                    request, status=404, code="unknown_host", message="No KIKI workspace at this address."
                )
            return response
        tenant = request.tenant  # type: ignore[attr-defined]
        if tenant.schema_name != get_public_schema_name():
            tenant_var.set(tenant.schema_name)
            if not tenant.is_active:
                return error_response(
                    request,
                    status=403,
                    code="tenant_suspended",
                    message="This workspace is suspended. Contact KIKI support to restore access.",
                )
        return None
