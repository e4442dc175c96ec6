from django.apps import AppConfig


class BillingConfig(AppConfig):
    """Outcome-based contracts and invoices, payment and CRM sync."""

    name = "apps.billing"
    label = "billing"
    verbose_name = "Billing"
    default_auto_field = "django.db.models.BigAutoField"
