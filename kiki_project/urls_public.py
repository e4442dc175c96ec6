"""Public host (the base domain): landing + signup, health, metrics, platform-staff admin, and the
store platforms' app-level callbacks."""

from django.contrib import admin
from django.urls import path

from apps.core.health import health, livez, metrics
from apps.governance.tenancy.api.views import SignupView
from apps.governance.tenancy.views import landing
from apps.stores import public_views as stores

urlpatterns = [
    path("", landing, name="landing"),
    path("health", health, name="health"),
    path("livez", livez, name="livez"),
    path("metrics", metrics, name="metrics"),
    path("api/v1/signup", SignupView.as_view(), name="api-signup"),
    path("admin/", admin.site.urls),
    # Platform callbacks configured once per app (not per workspace): verified, then routed to the
    # workspace that holds the shop (apps.stores.public_views).
    path("webhooks/<str:platform>", stores.app_webhook, name="app-webhook"),
    path("stores/oauth/bigcommerce/begin", stores.bigcommerce_begin, name="bigcommerce-app-begin"),
    path("stores/oauth/bigcommerce/auth", stores.bigcommerce_auth, name="bigcommerce-app-auth"),
    path("stores/oauth/bigcommerce/load", stores.bigcommerce_load, name="bigcommerce-app-load"),
    path(
        "stores/oauth/bigcommerce/uninstall", stores.bigcommerce_uninstall, name="bigcommerce-app-uninstall"
    ),
]

handler400 = "apps.core.middleware.bad_request"
handler403 = "apps.core.middleware.permission_denied"
handler404 = "apps.core.middleware.page_not_found"
handler500 = "apps.core.middleware.server_error"
