from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Platform plumbing shared by every app: logging, API base classes, tasks, health."""

    name = "apps.core"
    label = "core"
    verbose_name = "KIKI platform"

    def ready(self) -> None:
        from apps.core import celery_signals  # noqa: F401 - connects the signal handlers
        from apps.core.api import strict

        strict.apply()
