"""Tenant API routes of the billing app, mounted at /api/v1/billing/ by kiki_project.urls_tenants."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter(trailing_slash=False)
urlpatterns = router.urls
