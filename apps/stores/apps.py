from django.apps import AppConfig


class StoresConfig(AppConfig):
    """Connected stores and everything synced from them (Shopify, WooCommerce, BigCommerce)."""

    name = "apps.stores"
    label = "stores"
    verbose_name = "Stores"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.stores.models import StoreConnection
        from apps.stores.views import forget_stores

        # The webhook endpoint remembers stores by shop a minute; any change of a store forgets them.
        post_save.connect(forget_stores, sender=StoreConnection, dispatch_uid="kiki_webhook_stores_save")
        post_delete.connect(forget_stores, sender=StoreConnection, dispatch_uid="kiki_webhook_stores_delete")
