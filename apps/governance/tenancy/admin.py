from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.actor import Actor
from apps.core.admin import PublicOnlyAdmin
from apps.governance.tenancy.models import Domain, Tenant
from apps.governance.tenancy.services import tenant_set_status


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


@admin.register(Tenant)
class TenantAdmin(PublicOnlyAdmin):
    list_display = ["slug", "name", "plan", "status", "dry_run", "currency", "created_at"]
    list_filter = ["status", "plan", "dry_run"]
    search_fields = ["slug", "name"]
    readonly_fields = ["schema_name", "slug", "created_at", "suspended_at"]
    inlines = [DomainInline]
    actions = ["suspend", "activate"]

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return False  # tenants are created by signup or `manage.py create_tenant_account`

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # deleting drops a schema: an operator's deliberate act, not a click

    @admin.action(description="Suspend selected tenants")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            tenant_set_status(
                tenant=tenant,
                status=Tenant.Status.SUSPENDED,
                reason="admin action",
                actor=Actor.for_user(request.user),
            )
        self.message_user(request, f"Suspended {queryset.count()} tenant(s).", messages.WARNING)

    @admin.action(description="Re-activate selected tenants")
    def activate(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=Actor.for_user(request.user))
        self.message_user(request, f"Activated {queryset.count()} tenant(s).")
