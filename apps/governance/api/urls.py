from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.governance.api.guardrails import ApprovalViewSet, CheckView, PolicyVersionViewSet, PolicyView
from apps.governance.api.views import ApiKeyViewSet, MeView, ReportRunViewSet, UserViewSet, WorkspaceView

router = DefaultRouter(trailing_slash=False)
router.register("users", UserViewSet, basename="user")
router.register("api-keys", ApiKeyViewSet, basename="apikey")
router.register("reports", ReportRunViewSet, basename="report")
router.register("governance/policy/versions", PolicyVersionViewSet, basename="policy-version")
router.register("governance/approvals", ApprovalViewSet, basename="approval")

urlpatterns = [
    path("me", MeView.as_view(), name="me"),
    path("workspace", WorkspaceView.as_view(), name="workspace"),
    path("governance/policy", PolicyView.as_view(), name="governance-policy"),
    path("governance/check", CheckView.as_view(), name="governance-check"),
    *router.urls,
]
