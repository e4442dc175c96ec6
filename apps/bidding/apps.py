from django.apps import AppConfig


class BiddingConfig(AppConfig):
    """Campaigns across ad platforms, bids from predicted LTV, spend ledger, circuit breakers."""

    name = "apps.bidding"
    label = "bidding"
    verbose_name = "Bidding"
    default_auto_field = "django.db.models.BigAutoField"
