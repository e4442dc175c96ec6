from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    """Roles, API keys, encrypted secrets, reports (and later policies, guardrails, audit)."""

    name = "apps.governance"
    label = "governance"
    verbose_name = "Governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.governance import metrics  # noqa: F401 - registers the budget gauges (scrape time)
        from apps.governance.api import schema  # noqa: F401 - registers the API key's OpenAPI scheme
        from apps.governance.roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="kiki_sync_roles")
