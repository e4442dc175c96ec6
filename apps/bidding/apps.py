from django.apps import AppConfig


class BiddingConfig(AppConfig):
    """Campaigns across ad platforms, bids from predicted LTV, spend ledger, circuit breakers."""

    name = "apps.bidding"
    label = "bidding"
    verbose_name = "Bidding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.bidding.receivers import (
            breaker_on_stock_transition,
            rescore_customers_after_orders,
            train_after_store_connected,
        )
        from apps.stores.services import customers_orders_changed, on_inventory_transition, store_connected

        customers_orders_changed.connect(
            rescore_customers_after_orders, dispatch_uid="kiki_ltv_rescore_on_orders"
        )
        store_connected.connect(train_after_store_connected, dispatch_uid="kiki_ltv_train_on_store_connected")

        from apps.bidding.receivers import carry_out_approved_campaign_change
        from apps.governance.services import approval_decided

        approval_decided.connect(
            carry_out_approved_campaign_change, dispatch_uid="kiki_campaign_change_on_approval"
        )
        on_inventory_transition(breaker_on_stock_transition, key="bidding.inventory_breaker")
