"""Shared by ``audit_verify`` and ``audit_export``: which workspaces a command runs over."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django_tenants.utils import get_public_schema_name

from apps.governance.tenancy.models import Tenant

EXIT_BROKEN, EXIT_USAGE = 1, 2


def audit_tenants(schema: str | None) -> list[Any]:
    """Every workspace (active or suspended), or the one whose schema name (or slug) is ``schema``."""
    tenants = Tenant.objects.exclude(
        schema_name__in=[get_public_schema_name(), settings.TENANT_BASE_SCHEMA]
    ).order_by("schema_name")
    if schema is None:
        return list(tenants)
    chosen = [t for t in tenants.filter(schema_name=schema)] or [t for t in tenants.filter(slug=schema)]
    if not chosen:
        raise CommandError(f"no workspace with schema or slug {schema!r}", returncode=EXIT_USAGE)
    return chosen
