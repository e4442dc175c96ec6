"""Tenant hosts (<slug>.<base domain>): tenant admin, the tenant API and its docs."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.health import health, livez
from apps.governance.tenancy.views import handoff
from apps.stores.views import (
    bigcommerce_auth,
    bigcommerce_install,
    bigcommerce_load,
    bigcommerce_uninstall,
    shopify_callback,
    shopify_install,
    webhook,
    woocommerce_authorize,
    woocommerce_callback,
    woocommerce_return,
)

api_v1: list[URLPattern | URLResolver] = [
    path("auth/", include("apps.governance.api.auth_urls")),
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
    path("livez", livez, name="tenant-livez"),
    path("accounts/handoff", handoff, name="handoff"),
    # Password reset (the admin's "Forgotten your password?" and the API's reset e-mail link here).
    path("admin/password_reset/", auth_views.PasswordResetView.as_view(), name="admin_password_reset"),
    path(
        "admin/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    # Store platforms call these: webhooks (signed), and the install flows (Shopify, WooCommerce, BigCommerce).
    path("webhooks/<str:platform>", webhook, name="webhook"),
    path("webhooks/<str:platform>/<int:store_id>", webhook, name="webhook-store"),
    path("stores/connect/shopify", shopify_install, name="shopify-install"),
    path("stores/oauth/shopify/callback", shopify_callback, name="shopify-callback"),
    path("stores/oauth/bigcommerce/auth", bigcommerce_auth, name="bigcommerce-auth"),
    path("stores/oauth/bigcommerce/uninstall", bigcommerce_uninstall, name="bigcommerce-uninstall"),
    path("stores/oauth/bigcommerce/load", bigcommerce_load, name="bigcommerce-load"),
    path("stores/connect/bigcommerce", bigcommerce_install, name="bigcommerce-install"),
    path("stores/connect/woocommerce", woocommerce_authorize, name="woocommerce-authorize"),
    path("stores/oauth/woocommerce/callback", woocommerce_callback, name="woocommerce-callback"),
    path("stores/oauth/woocommerce/return", woocommerce_return, name="woocommerce-return"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

handler400 = "apps.core.middleware.bad_request"
handler403 = "apps.core.middleware.permission_denied"
handler404 = "apps.core.middleware.page_not_found"
handler500 = "apps.core.middleware.server_error"
