from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """Tenant registry in the public schema: tenants, their domains, signup."""

    name = "apps.governance.tenancy"
    label = "tenancy"
    verbose_name = "Tenants"
    default_auto_field = "django.db.models.BigAutoField"
