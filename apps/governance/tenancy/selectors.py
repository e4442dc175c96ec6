from __future__ import annotations

from django.conf import settings
from django_tenants.utils import get_public_schema_name

from apps.governance.tenancy.models import Domain, Tenant


def active_tenant_schema_names() -> list[str]:
    return list(
        Tenant.objects.filter(status=Tenant.Status.ACTIVE)
        .exclude(schema_name__in=[get_public_schema_name(), settings.TENANT_BASE_SCHEMA])
        .order_by("schema_name")
        .values_list("schema_name", flat=True)
    )


def tenant_host(tenant: Tenant) -> str:
    domain = Domain.objects.filter(tenant=tenant, is_primary=True).values_list("domain", flat=True).first()
    return domain or f"{tenant.slug}.{settings.KIKI_BASE_DOMAIN}"


def tenant_base_url(tenant: Tenant) -> str:
    return str(settings.KIKI_PUBLIC_ADDRESS.url(tenant_host(tenant)))


def get_tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def current_tenant_base_url() -> str:
    """The base URL of the workspace whose schema is active (for links a platform calls back)."""
    from apps.core.tenant_context import current_schema

    return tenant_base_url(Tenant.objects.get(schema_name=current_schema()))
