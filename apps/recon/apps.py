from django.apps import AppConfig


class ReconConfig(AppConfig):
    """Actual usage vs usage reported to billing: runs, anomalies, actions."""

    name = "apps.recon"
    label = "recon"
    verbose_name = "Revenue-leak reconciliation"
    default_auto_field = "django.db.models.BigAutoField"
