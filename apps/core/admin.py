"""Admin helpers: one admin site serves the public host (platform staff) and every tenant host.

Tenant models exist only in tenant schemas and tenancy models only in public, so each ModelAdmin
says where it belongs and is invisible (and refuses access) elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
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


class ReadOnlyTenantAdmin(TenantOnlyAdmin):
    """Records only services and tasks write: whoever may view them reads; nobody adds, edits or
    deletes, superusers included."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


REASON_PAGE = "admin/action_with_reason.html"


def action_with_reason(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    *,
    action: str,
    verb: str,
    form_class: type[forms.Form],
    selected: Sequence[Model] | QuerySet[Any],
    apply: Callable[[dict[str, Any]], None],
    template: str = REASON_PAGE,
    **context: Any,
) -> TemplateResponse | None:
    """An admin action that asks why (and whatever else ``form_class`` asks) on an intermediate page.

    The first call (from the changelist) renders ``template``, which extends ``REASON_PAGE``; its
    form posts the action again with ``apply``. Valid, ``apply(cleaned_data)`` acts and the admin
    returns to the changelist (``None``); invalid, the page comes back with the form's errors.
    ``action`` is the admin action's name, ``verb`` what the page's button says.
    """
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        apply(form.cleaned_data)
        return None
    page = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "form": form,
        "action": action,
        "verb": verb,
        "selected": selected,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        **context,
    }
    return TemplateResponse(request, template, page)
