"""Tenant API routes of the bidding app, mounted at /api/v1/bidding/ by kiki_project.urls_tenants."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.bidding.api.campaigns import (
    AdAccountViewSet,
    BidDecisionViewSet,
    CampaignViewSet,
    PlatformChangeViewSet,
    SpendViewSet,
)
from apps.bidding.api.decide import BidDecideView

router = DefaultRouter(trailing_slash=False)
router.register("ad-accounts", AdAccountViewSet, basename="bidding-ad-account")
router.register("campaigns", CampaignViewSet, basename="bidding-campaign")
router.register("bid-decisions", BidDecisionViewSet, basename="bidding-bid-decision")
router.register("platform-changes", PlatformChangeViewSet, basename="bidding-platform-change")
router.register("spend", SpendViewSet, basename="bidding-spend")
urlpatterns = [path("decide", BidDecideView.as_view(), name="bidding-decide"), *router.urls]
