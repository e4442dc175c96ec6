from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django_tenants.utils import get_public_schema_name

from apps.core.actor import SYSTEM, Actor
from apps.core.admin import ReadOnlyTenantAdmin, TenantOnlyAdmin
from apps.core.tenant_context import current_schema
from apps.governance import services
from apps.governance.errors import GovernanceError
from apps.governance.models import ApiKey, AuditChainCheck, AuditEntry, ReportRun, Secret
from apps.governance.roles import ROLE_CHOICES, Role


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
            name=obj.name, role=obj.role, expires_at=obj.expires_at, actor=Actor.for_user(request.user)
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
            services.apikey_revoke(key=key, actor=Actor.for_user(request.user))
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
            services.secret_update(
                secret=obj,
                name=obj.name,
                kind=obj.kind,
                description=obj.description,
                actor=Actor.for_user(request.user),
            )
            return
        saved = services.secret_set(
            name=obj.name,
            value=value,
            kind=obj.kind,
            description=obj.description,
            actor=Actor.for_user(request.user),
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


# --- users of the workspace ------------------------------------------------------------------------
# In a workspace, people are added and changed through the governance services (role = one group,
# e-mail = login, staff access to this admin), with the same refusals as the API. Platform staff on
# the public host keep Django's own user admin.
User = get_user_model()


def _add_errors(form: forms.BaseForm, exc: GovernanceError) -> None:
    for field, problems in exc.details.items():
        form.add_error(field if field in form.fields else None, problems)
    if not exc.details:
        form.add_error(None, exc.message)


class WorkspaceUserAddForm(forms.ModelForm):
    email = forms.EmailField(label="Email", help_text="Their login.")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=Role.ANALYST.value)
    initial_password = forms.CharField(
        label="Password",
        widget=forms.PasswordInput,
        required=False,
        strip=False,
        help_text="Leave empty to invite: they choose one through “Forgotten your password?” "
        "on the sign-in page.",
    )

    class Meta:
        model = User
        fields = ["first_name", "last_name"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                services.user_create_check(
                    email=data["email"], role=data["role"], password=data.get("initial_password") or None
                )
            except GovernanceError as exc:
                _add_errors(self, exc)
        return data


class WorkspaceUserChangeForm(forms.ModelForm):
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    actor: Actor = SYSTEM  # the signed-in Admin, set by the ModelAdmin

    class Meta:
        model = User
        fields = ["first_name", "last_name", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = services.user_role(self.instance)
        self.initial_role = current.value if current else None
        self.fields["role"].initial = self.initial_role

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            if data.get("role") != self.initial_role:
                services.user_set_role_check(user=self.instance, role=data["role"], actor=self.actor)
            if self.instance.is_active and data.get("is_active") is False:
                services.user_deactivate_check(user=self.instance, actor=self.actor)
        except GovernanceError as exc:
            _add_errors(self, exc)
        return data


class WorkspaceUserAdmin(UserAdmin):
    @staticmethod
    def _workspace() -> bool:
        return current_schema() != get_public_schema_name()

    @admin.display(description="role")
    def role(self, obj: Any) -> str:
        role = services.user_role(obj)
        return role.group_name if role else "—"

    def get_list_display(self, request: HttpRequest) -> Any:
        if not self._workspace():
            return super().get_list_display(request)
        return ["username", "role", "first_name", "last_name", "is_active", "last_login"]

    def get_list_filter(self, request: HttpRequest) -> Any:
        return ["is_active", "groups"] if self._workspace() else super().get_list_filter(request)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if not self._workspace():
            return super().get_fieldsets(request, obj)
        if obj is None:
            return [(None, {"fields": ["email", "role", "initial_password", "first_name", "last_name"]})]
        return [
            (None, {"fields": ["username", "role", "is_active"]}),
            ("Profile", {"fields": ["first_name", "last_name"]}),
            ("Activity", {"fields": ["last_login", "date_joined"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if not self._workspace() or obj is None:
            return super().get_readonly_fields(request, obj)
        if not self.has_change_permission(request, obj):
            return ["username", "role", "is_active", "first_name", "last_name", "last_login", "date_joined"]
        return ["username", "last_login", "date_joined"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if not self._workspace():
            return super().get_form(request, obj, change=change, **kwargs)
        kwargs["form"] = WorkspaceUserAddForm if obj is None else WorkspaceUserChangeForm
        form: Any = admin.ModelAdmin.get_form(self, request, obj, change=change, **kwargs)
        form.actor = Actor.for_user(request.user)
        return form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not self._workspace():
            super().save_model(request, obj, form, change)
            return
        data = form.cleaned_data
        if not change:
            created = services.user_create(
                email=data["email"],
                role=data["role"],
                password=data.get("initial_password") or None,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                actor=Actor.for_user(request.user),
            )
            obj.pk, obj.username = created.pk, created.username
            return
        actor = Actor.for_user(request.user)
        if data["role"] != form.initial_role:
            services.user_set_role(user=obj, role=data["role"], actor=actor)
        if "is_active" in form.changed_data:
            if data["is_active"]:
                services.user_reactivate(user=obj, actor=actor)
            else:
                services.user_deactivate(user=obj, actor=actor)
        services.user_update_profile(
            user=obj, first_name=obj.first_name, last_name=obj.last_name, actor=actor
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if not self._workspace():
            super().save_related(request, form, formsets, change)


admin.site.unregister(User)
admin.site.register(User, WorkspaceUserAdmin)


# --- the audit trail -------------------------------------------------------------------------------
# Read-only for everyone, superusers included: entries are written only by services.audit_record and
# the database refuses UPDATE and DELETE anyway. The changelist shows the chain's latest check and,
# for those who may record checks (Admins), a "Verify now" button.
@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyTenantAdmin):
    list_display = ["sequence", "created_at", "actor_kind", "actor_name", "action", "object_type"]
    list_display += ["object_id", "request_id", "short_hash"]
    list_display_links = ["sequence"]
    list_filter = ["action", "actor_kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["action", "object_type", "object_id", "actor_id", "actor_name", "request_id", "hash"]
    date_hierarchy = "created_at"
    ordering = ["-sequence"]
    list_per_page = 100
    show_full_result_count = False  # no second COUNT(*) over a long chain on every filtered page
    fields = readonly_fields = (
        *("sequence", "created_at", "actor_kind", "actor_id", "actor_name", "action", "object_type"),
        *("object_id", "before_json", "after_json", "request_id", "prev_hash", "hash"),
    )

    @admin.display(description="hash")
    def short_hash(self, obj: AuditEntry) -> str:
        return f"{obj.hash[:12]}…"

    @admin.display(description="before")
    def before_json(self, obj: AuditEntry) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.before, indent=2, sort_keys=True, ensure_ascii=False)
        )

    @admin.display(description="after")
    def after_json(self, obj: AuditEntry) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.after, indent=2, sort_keys=True, ensure_ascii=False)
        )

    def can_verify(self, request: HttpRequest) -> bool:
        return self._here() and request.user.has_perm("governance.add_auditchaincheck")

    def get_urls(self) -> list[Any]:
        verify = path(
            "verify/", self.admin_site.admin_view(self.verify_view), name="governance_auditentry_verify"
        )
        return [verify, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        latest = AuditChainCheck.objects.order_by("-checked_at", "-id").first() if self._here() else None
        context = {"chain_check": latest, "can_verify": self.can_verify(request)}
        return super().changelist_view(request, {**(extra_context or {}), **context})

    def verify_view(self, request: HttpRequest) -> HttpResponseRedirect:
        """POST only (the changelist's button); Admins only (``governance.add_auditchaincheck``)."""
        back = reverse("admin:governance_auditentry_changelist")
        if request.method != "POST" or not self.can_verify(request):
            self.message_user(request, "Only Admins can verify the audit trail.", messages.ERROR)
            return HttpResponseRedirect(back)
        verdict = services.audit_verify_chain(actor=Actor.for_user(request.user))
        if verdict.ok:
            self.message_user(
                request, f"Audit chain intact: {verdict.entries} entries, head {verdict.head_hash[:12]}…"
            )
        else:
            self.message_user(
                request,
                f"Audit chain BROKEN at entry {verdict.first_bad_sequence}: {verdict.reason}",
                messages.ERROR,
            )
        return HttpResponseRedirect(back)


@admin.register(AuditChainCheck)
class AuditChainCheckAdmin(ReadOnlyTenantAdmin):
    list_display = ["checked_at", "ok", "entries", "first_bad_sequence", "reason", "checked_by", "head_hash"]
    list_filter = ["ok"]
    ordering = ["-checked_at", "-id"]


# Policy versions, the approval queue and the budget ledger register themselves there.
from apps.governance import admin_guardrails  # noqa: E402,F401
