from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Platform plumbing shared by every app: logging, API base classes, tasks, health."""

    name = "apps.core"
    label = "core"
    verbose_name = "KIKI platform"
