from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.governance.api.views import ApiKeyViewSet, MeView, ReportRunViewSet, UserViewSet

router = DefaultRouter(trailing_slash=False)
router.register("users", UserViewSet, basename="user")
router.register("api-keys", ApiKeyViewSet, basename="apikey")
router.register("reports", ReportRunViewSet, basename="report")

urlpatterns = [path("me", MeView.as_view(), name="me"), *router.urls]
