"""Admin helpers: one admin site serves the public host (platform staff) and every tenant host.

Tenant models exist only in tenant schemas and tenancy models only in public, so each ModelAdmin
says where it belongs and is invisible (and refuses access) elsewhere.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name

from apps.core.tenant_context import current_schema


def _in_public() -> bool:
    return current_schema() == get_public_schema_name()


class TenantOnlyAdmin(admin.ModelAdmin):
    def _here(self) -> bool:
        return not _in_public()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._here() and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._here() and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._here() and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._here() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._here() and super().has_delete_permission(request, obj)


class PublicOnlyAdmin(TenantOnlyAdmin):
    def _here(self) -> bool:
        return _in_public()
