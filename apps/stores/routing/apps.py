from django.apps import AppConfig


class StoreRoutingConfig(AppConfig):
    """Shared app (public schema): the shop → workspace registry for app-level platform callbacks."""

    name = "apps.stores.routing"
    label = "store_routing"
    verbose_name = "Store routes"
    default_auto_field = "django.db.models.BigAutoField"
