"""Public site: landing page with signup; tenant site: the sign-in hand-off after signup."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from apps.core.actor import Actor
from apps.core.api.throttling import client_ip, hit, parse_rate
from apps.core.metrics import SIGNUPS
from apps.core.middleware import error_response
from apps.governance.tenancy.errors import TenancyError
from apps.governance.tenancy.forms import SignupForm
from apps.governance.tenancy.handoff import handoff_issue, handoff_redeem
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.selectors import tenant_base_url
from apps.governance.tenancy.services import SignupRequest, tenant_signup


def signup_rate_ok(request: HttpRequest) -> tuple[bool, int]:
    limit, period = parse_rate(settings.KIKI_SIGNUP_RATE)
    return hit(f"signup:{client_ip(request)}", limit, period)


def handoff_url(result_schema: str, slug: str, user_id: int) -> str:
    tenant = Tenant.objects.get(schema_name=result_schema)
    token = handoff_issue(schema_name=result_schema, user_id=user_id)
    return f"{tenant_base_url(tenant)}/accounts/handoff?token={token}"


@require_http_methods(["GET", "POST"])
def landing(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        allowed, retry = signup_rate_ok(request)
        if not allowed:
            SIGNUPS.labels(outcome="throttled").inc()
            response = render(request, "tenancy/landing.html", {"form": form, "throttled": True}, status=429)
            response["Retry-After"] = str(retry)
            return response
        if form.is_valid():
            try:
                result = tenant_signup(
                    SignupRequest(**form.cleaned_data), actor=Actor.system(f"signup:web:{client_ip(request)}")
                )
            except TenancyError as exc:
                for field, messages in exc.details.items():
                    for message in messages:
                        form.add_error(field if field in form.fields else None, message)
                SIGNUPS.labels(outcome="rejected").inc()
                return render(request, "tenancy/landing.html", {"form": form}, status=exc.http_status)
            SIGNUPS.labels(outcome="created").inc()
            return HttpResponseRedirect(handoff_url(result.schema_name, result.slug, result.admin_user_id))
        SIGNUPS.labels(outcome="rejected").inc()
        return render(request, "tenancy/landing.html", {"form": form}, status=400)
    return render(request, "tenancy/landing.html", {"form": form, "base_domain": settings.KIKI_BASE_DOMAIN})


@require_GET
def handoff(request: HttpRequest) -> HttpResponse:
    """Tenant host: redeem the one-time token, start a session in this tenant, go to its admin."""
    tenant = request.tenant  # type: ignore[attr-defined]
    user_id = handoff_redeem(request.GET.get("token", ""), schema_name=tenant.schema_name)
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        return error_response(
            request,
            status=400,
            code="handoff_invalid",
            message="This sign-in link is invalid, expired or already used. Sign in with your email and password.",
        )
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponseRedirect("/admin/")
