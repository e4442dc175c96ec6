"""Fail-closed guards: tenant code refuses to run in the public schema."""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import get_public_schema_name

from apps.core.errors import TenantRequired


def current_schema() -> str:
    return str(connection.schema_name)


def require_tenant(what: str = "this operation") -> str:
    schema = current_schema()
    if schema == get_public_schema_name() or connection.tenant is None:
        raise TenantRequired(what)
    return schema
