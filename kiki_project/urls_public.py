"""Public host (the base domain): landing + signup, health, metrics, platform-staff admin."""

from django.contrib import admin
from django.urls import path
from django_prometheus.exports import ExportToDjangoView

from apps.core.health import health, livez
from apps.governance.tenancy.api.views import SignupView
from apps.governance.tenancy.views import landing

urlpatterns = [
    path("", landing, name="landing"),
    path("health", health, name="health"),
    path("livez", livez, name="livez"),
    path("metrics", ExportToDjangoView, name="metrics"),
    path("api/v1/signup", SignupView.as_view(), name="api-signup"),
    path("admin/", admin.site.urls),
]

handler400 = "apps.core.middleware.bad_request"
handler403 = "apps.core.middleware.permission_denied"
handler404 = "apps.core.middleware.page_not_found"
handler500 = "apps.core.middleware.server_error"
