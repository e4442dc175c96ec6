from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.governance.api.views import ApiKeyViewSet, MeView, ReportRunViewSet, UserViewSet, WorkspaceView

router = DefaultRouter(trailing_slash=False)
router.register("users", UserViewSet, basename="user")
router.register("api-keys", ApiKeyViewSet, basename="apikey")
router.register("reports", ReportRunViewSet, basename="report")

urlpatterns = [
    path("me", MeView.as_view(), name="me"),
    path("workspace", WorkspaceView.as_view(), name="workspace"),
    *router.urls,
]
