"""LTV routes, mounted at /api/v1/ltv/ by kiki_project.urls_tenants."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.bidding.api.ltv import LtvModelViewSet, LtvScoreView, LtvTrainingRunViewSet

router = SimpleRouter(trailing_slash=False)
router.register("models", LtvModelViewSet, basename="ltv-model")
router.register("runs", LtvTrainingRunViewSet, basename="ltv-run")

urlpatterns = [path("score", LtvScoreView.as_view(), name="ltv-score"), *router.urls]
