"""Tenant hosts (<slug>.<base domain>): tenant admin, the tenant API and its docs."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.health import health
from apps.governance.tenancy.views import handoff

api_v1: list[URLPattern | URLResolver] = [
    path("auth/", include("dj_rest_auth.urls")),
    path("", include("apps.governance.api.urls")),
    path("", include("apps.stores.api.urls")),  # /stores, /customers, /orders
    path("bidding/", include("apps.bidding.api.urls")),
    path("ltv/", include("apps.bidding.api.ltv_urls")),  # /ltv/score, /ltv/models, /ltv/runs
    path("billing/", include("apps.billing.api.urls")),
    path("recon/", include("apps.recon.api.urls")),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health", health, name="tenant-health"),
    path("accounts/handoff", handoff, name="handoff"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
