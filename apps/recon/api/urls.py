"""Tenant API routes of the recon app, mounted at /api/v1/recon/ by kiki_project.urls_tenants."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter(trailing_slash=False)
urlpatterns = router.urls
