from django.apps import AppConfig


class StoresConfig(AppConfig):
    """Connected stores and everything synced from them (Shopify, WooCommerce, BigCommerce)."""

    name = "apps.stores"
    label = "stores"
    verbose_name = "Stores"
    default_auto_field = "django.db.models.BigAutoField"
