"""Tenant API routes of the stores app, mounted at /api/v1/ by kiki_project.urls_tenants:
/stores, /customers, /orders."""

from rest_framework.routers import SimpleRouter

from apps.stores.api.views import CustomerViewSet, OrderViewSet, ProductViewSet, StoreViewSet

router = SimpleRouter(trailing_slash=False)
router.register("stores", StoreViewSet, basename="store")
router.register("customers", CustomerViewSet, basename="customer")
router.register("orders", OrderViewSet, basename="order")
router.register("products", ProductViewSet, basename="product")
urlpatterns = router.urls
