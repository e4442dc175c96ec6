from django.apps import AppConfig


class BiddingConfig(AppConfig):
    """Campaigns across ad platforms, bids from predicted LTV, spend ledger, circuit breakers."""

    name = "apps.bidding"
    label = "bidding"
    verbose_name = "Bidding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.bidding.receivers import rescore_customers_after_orders, train_after_store_connected
        from apps.stores.services import customers_orders_changed, store_connected

        customers_orders_changed.connect(
            rescore_customers_after_orders, dispatch_uid="kiki_ltv_rescore_on_orders"
        )
        store_connected.connect(train_after_store_connected, dispatch_uid="kiki_ltv_train_on_store_connected")
