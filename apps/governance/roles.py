"""Roles are Django groups with explicit permissions, kept in sync in every tenant schema.

Admin: every permission of the tenant apps. Analyst: every ``view_*`` except credentials, plus the
non-money actions (run reports, run reconciliation, propose actions). Nothing that changes
credentials, policies or contracts, and nothing that approves money movement.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django_tenants.utils import get_public_schema_name

from apps.core.tenant_context import current_schema


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"

    @property
    def group_name(self) -> str:
        return {Role.ADMIN: "Admin", Role.ANALYST: "Analyst"}[self]


# The one list of (value, label) pairs: model field, API serializers, admin forms, OpenAPI enum.
ROLE_CHOICES = [(role.value, role.group_name) for role in Role]


TENANT_PERMISSION_APPS = ("auth", "governance", "stores", "bidding", "billing", "recon", "authtoken", "admin")
# Credentials: an Analyst may not even read them.
ANALYST_HIDDEN_MODELS = {
    ("governance", "apikey"),
    ("governance", "secret"),
    ("authtoken", "token"),
    ("authtoken", "tokenproxy"),
    # Raw webhook bodies and GDPR exports are personal data as the platforms sent it: Admins only.
    ("stores", "webhookdelivery"),
    ("stores", "dataexport"),
}
# Non-view permissions an Analyst holds (codename, app label). Later apps add theirs here.
ANALYST_ACTIONS = {
    ("governance", "run_report"),
    ("governance", "propose_action"),
    ("recon", "run_reconciliation"),
    ("bidding", "score_ltv"),
}


def role_permission_ids(role: Role) -> list[int]:
    from django.contrib.auth.models import Permission

    perms = Permission.objects.filter(content_type__app_label__in=TENANT_PERMISSION_APPS).select_related(
        "content_type"
    )
    if role is Role.ADMIN:
        return [p.pk for p in perms]
    chosen = []
    for p in perms:
        key = (p.content_type.app_label, p.content_type.model)
        if p.codename.startswith("view_") and key not in ANALYST_HIDDEN_MODELS:
            chosen.append(p.pk)
        elif (p.content_type.app_label, p.codename) in ANALYST_ACTIONS:
            chosen.append(p.pk)
    return chosen


def sync_roles() -> None:
    from django.contrib.auth.models import Group

    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.group_name)
        group.permissions.set(role_permission_ids(role))


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    """post_migrate runs once per app per schema; roles are synced once, after governance."""
    if getattr(sender, "label", None) != "governance":
        return
    if current_schema() == get_public_schema_name():
        return
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    sync_roles()
