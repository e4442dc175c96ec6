from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.admin import TenantOnlyAdmin
from apps.governance import services
from apps.governance.models import ApiKey, ReportRun, Secret


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "role", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantOnlyAdmin):
    list_display = ["name", "prefix", "role", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    form = ApiKeyCreateForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:  # a key is immutable once issued: revoke and issue another
            return [*self.readonly_fields, "name", "role", "expires_at"]
        return self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return
        issued = services.apikey_create(
            name=obj.name, role=obj.role, expires_at=obj.expires_at, actor=request.user
        )
        obj.pk = issued.key.pk
        obj.prefix = issued.key.prefix
        self.message_user(
            request,
            f"API key created. Copy it now, it will not be shown again: {issued.plaintext}",
            messages.SUCCESS,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row is the record that the key existed

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            services.apikey_revoke(key=key, actor=request.user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.WARNING)


class SecretForm(forms.ModelForm):
    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Write-only. Leave empty to keep the stored value.",
    )

    class Meta:
        model = Secret
        fields = ["name", "kind", "description", "value"]

    def clean_value(self) -> str:
        value = self.cleaned_data.get("value", "")
        if not value and not self.instance.pk:
            raise forms.ValidationError("A new secret needs a value.")
        return value


@admin.register(Secret)
class SecretAdmin(TenantOnlyAdmin):
    form = SecretForm
    list_display = ["name", "kind", "masked", "updated_at"]
    search_fields = ["name"]

    @admin.display(description="value")
    def masked(self, obj: Secret) -> str:
        return "•••••••• (encrypted)"

    def save_model(self, request: HttpRequest, obj: Secret, form: Any, change: bool) -> None:
        value = form.cleaned_data.get("value")
        if change and not value:
            Secret.objects.filter(pk=obj.pk).update(kind=obj.kind, description=obj.description, name=obj.name)
            return
        saved = services.secret_set(
            name=obj.name, value=value, kind=obj.kind, description=obj.description, actor=request.user
        )
        obj.pk = saved.pk


@admin.register(ReportRun)
class ReportRunAdmin(TenantOnlyAdmin):
    list_display = ["id", "kind", "status", "requested_by", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    readonly_fields = list(ReportRun.SHOWN_FIELDS)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Tokens are issued by the login API, per user; the public schema has no token table at all.
try:
    from rest_framework.authtoken.models import TokenProxy

    admin.site.unregister(TokenProxy)
except NotRegistered:  # pragma: no cover
    pass
