"""Fail-closed guards: tenant code refuses to run in the public schema."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django_tenants.utils import get_public_schema_name

from apps.core.errors import TenantRequired


def db() -> Any:
    """The default connection, typed loosely: django-tenants adds schema/tenant methods at run time."""
    return connection


def current_schema() -> str:
    return str(db().schema_name)


def set_public_schema() -> None:
    db().set_schema_to_public()


def require_tenant(what: str = "this operation") -> str:
    schema = current_schema()
    if schema == get_public_schema_name() or db().tenant is None:
        raise TenantRequired(what)
    return schema
