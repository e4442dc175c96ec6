"""Tenant lifecycle: signup (all or nothing), suspension, the public tenant."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists

from apps.core.actor import Actor
from apps.core.tenant_context import set_public_schema
from apps.governance.tenancy.errors import TenancyError
from apps.governance.tenancy.models import SLUG_MAX, SLUG_MIN, SLUG_RE, Domain, Tenant

logger = logging.getLogger(__name__)
WORKSPACE_TYPE = Tenant._meta.label_lower  # "tenancy.tenant": the object of workspace.* entries


@dataclass(frozen=True)
class SignupRequest:
    name: str
    slug: str
    admin_email: str
    password: str
    plan: str = Tenant.Plan.TRIAL


@dataclass(frozen=True)
class SignupResult:
    tenant_id: int
    slug: str
    schema_name: str
    domain: str
    admin_email: str
    admin_user_id: int


def _normalise(req: SignupRequest) -> SignupRequest:
    return SignupRequest(
        name=" ".join(req.name.split()),
        slug=req.slug.strip().lower(),
        admin_email=req.admin_email.strip().lower(),
        password=req.password,
        plan=req.plan or Tenant.Plan.TRIAL,
    )


def signup_validate(req: SignupRequest) -> SignupRequest:
    """Every field error at once (400), then conflicts (409). Pure reads, no writes."""
    req = _normalise(req)
    errors: dict[str, list[str]] = {}
    if not req.name:
        errors.setdefault("name", []).append("Company name is required.")
    elif len(req.name) > 200:
        errors.setdefault("name", []).append("Company name is at most 200 characters.")
    if not (SLUG_MIN <= len(req.slug) <= SLUG_MAX):
        errors.setdefault("slug", []).append(f"Use {SLUG_MIN} to {SLUG_MAX} characters.")
    if not SLUG_RE.match(req.slug):
        errors.setdefault("slug", []).append(
            "Use lower-case letters, digits and single hyphens, starting with a letter (e.g. acme-shoes)."
        )
    schema = Tenant.schema_for_slug(req.slug)
    if (
        req.slug in settings.KIKI_RESERVED_SLUGS
        or schema in settings.KIKI_RESERVED_SLUGS
        or schema.startswith("pg_")
    ):
        errors.setdefault("slug", []).append(f"'{req.slug}' is reserved; choose another.")
    try:
        validate_email(req.admin_email)
    except ValidationError:
        errors.setdefault("admin_email", []).append("Enter a valid email address.")
    if req.plan not in Tenant.Plan.values:
        errors.setdefault("plan", []).append(f"Plan must be one of {', '.join(Tenant.Plan.values)}.")
    user_model = get_user_model()
    probe_user = user_model(username=req.admin_email, email=req.admin_email, first_name=req.name)
    try:
        password_validation.validate_password(req.password, user=probe_user)
    except ValidationError as exc:
        errors.setdefault("password", []).extend(exc.messages)
    if errors:
        raise TenancyError.invalid(errors)
    domain = f"{req.slug}.{settings.KIKI_BASE_DOMAIN}"
    if Tenant.objects.filter(slug=req.slug).exists() or Tenant.objects.filter(schema_name=schema).exists():
        raise TenancyError.taken("slug", f"The address '{req.slug}' is already taken.")
    if Domain.objects.filter(domain=domain).exists():
        raise TenancyError.taken("slug", f"The address '{domain}' is already taken.")
    return req


def _workspace_state(tenant: Tenant) -> dict[str, Any]:
    """A workspace as its audit trail records it."""
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "schema_name": tenant.schema_name,
        "plan": tenant.plan,
        "status": tenant.status,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "dry_run": tenant.dry_run,
    }


def _create_first_admin(*, tenant: Tenant, domain: str, email: str, password: str, actor: Actor) -> int:
    """Inside the new workspace's schema: its audit chain starts (``workspace.create``), then its
    first Admin is created (``user.create``). Returns the Admin's id."""
    from apps.governance import services as governance

    with schema_context(tenant.schema_name):
        governance.audit_record(
            actor=actor,
            action="workspace.create",
            object_type=WORKSPACE_TYPE,
            object_id=tenant.pk,
            after={**_workspace_state(tenant), "domain": domain},
        )
        user = governance.user_create(email=email, password=password, role="admin", actor=actor)
        return int(user.pk)


def tenant_signup(req: SignupRequest, *, actor: Actor) -> SignupResult:
    """Create schema + domain + first Admin in one transaction: a failure anywhere leaves nothing.

    PostgreSQL DDL is transactional, so the schema created (cloned from the template) inside the
    transaction disappears with the rollback, together with the tenant and domain rows.
    """
    req = signup_validate(req)
    schema = Tenant.schema_for_slug(req.slug)
    domain_name = f"{req.slug}.{settings.KIKI_BASE_DOMAIN}"
    set_public_schema()
    try:
        with transaction.atomic():
            tenant = Tenant(
                schema_name=schema, slug=req.slug, name=req.name, plan=req.plan, status=Tenant.Status.ACTIVE
            )
            tenant.save(verbosity=0)
            Domain.objects.create(domain=domain_name, tenant=tenant, is_primary=True)
            user_id = _create_first_admin(
                tenant=tenant, domain=domain_name, email=req.admin_email, password=req.password, actor=actor
            )
    except IntegrityError as exc:
        _drop_orphan_schema(schema)
        raise TenancyError.taken("slug", f"The address '{req.slug}' is already taken.") from exc
    except Exception:
        _drop_orphan_schema(schema)
        raise
    finally:
        set_public_schema()
    logger.info("tenant created", extra={"tenant_slug": req.slug, "actor": actor.label})
    return SignupResult(
        tenant_id=int(tenant.pk),
        slug=req.slug,
        schema_name=schema,
        domain=domain_name,
        admin_email=req.admin_email,
        admin_user_id=user_id,
    )


def _drop_orphan_schema(schema: str) -> None:
    """Belt and braces after a rollback: never leave a schema that no tenant row owns."""
    set_public_schema()
    if schema_exists(schema) and not Tenant.objects.filter(schema_name=schema).exists():
        with connection.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        logger.warning("dropped orphan schema after failed signup", extra={"schema": schema})


def _status_state(tenant: Tenant) -> dict[str, Any]:
    return {"status": tenant.status, "suspended_reason": tenant.suspended_reason}


def tenant_set_status(*, tenant: Tenant, status: str, reason: str = "", actor: Actor) -> Tenant:
    """Suspend or reactivate a workspace (platform staff). The change is audited in the workspace's
    own chain (``workspace.suspend`` / ``workspace.reactivate``), in the same transaction."""
    if status not in Tenant.Status.values:
        raise TenancyError.invalid({"status": [f"Status must be one of {', '.join(Tenant.Status.values)}."]})
    if tenant.schema_name in (get_public_schema_name(), settings.TENANT_BASE_SCHEMA):
        raise TenancyError.invalid({"status": ["The platform schemas cannot be suspended."]})
    from apps.governance import services as governance

    set_public_schema()  # tenant rows are written from the public schema, whatever ran before
    with transaction.atomic():
        stored = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = _status_state(stored)
        tenant.status = status
        tenant.suspended_at = timezone.now() if status == Tenant.Status.SUSPENDED else None
        tenant.suspended_reason = reason if status == Tenant.Status.SUSPENDED else ""
        tenant.save(update_fields=["status", "suspended_at", "suspended_reason"])
        after = _status_state(tenant)
        if after != before:
            with schema_context(tenant.schema_name):
                governance.audit_record(
                    actor=actor,
                    action="workspace.suspend"
                    if status == Tenant.Status.SUSPENDED
                    else "workspace.reactivate",
                    object_type=WORKSPACE_TYPE,
                    object_id=tenant.pk,
                    before={"slug": tenant.slug, **before},
                    after={"slug": tenant.slug, **after},
                )
    set_public_schema()
    logger.info(
        "tenant status changed", extra={"tenant_slug": tenant.slug, "status": status, "actor": actor.label}
    )
    return tenant


def public_tenant_ensure() -> Tenant:
    """The public schema's tenant row and its host names (the base domain and 127.0.0.1)."""
    public = get_public_schema_name()
    tenant = Tenant.objects.filter(schema_name=public).first()
    if tenant is None:
        tenant = Tenant(schema_name=public, slug="public", name="KIKI platform", plan=Tenant.Plan.ENTERPRISE)
        tenant.auto_create_schema = False
        tenant.save()
    for i, host in enumerate(settings.KIKI_PUBLIC_HOSTS):
        Domain.objects.get_or_create(domain=host, defaults={"tenant": tenant, "is_primary": i == 0})
    return tenant


def tenant_update_settings(
    *,
    tenant: Tenant,
    actor: Actor,
    name: str | None = None,
    timezone_name: str | None = None,
    currency: str | None = None,
    dry_run: bool | None = None,
) -> Tenant:
    """A tenant Admin's own settings, audited (``workspace.update``, the changed fields before and
    after) in the workspace's chain, in the same transaction. Invalid values change nothing."""
    import zoneinfo

    from apps.governance import services as governance

    errors: dict[str, list[str]] = {}
    fields: list[str] = []
    stored = _workspace_state(tenant)
    if name is not None:
        name = " ".join(name.split())
        if not name or len(name) > 200:
            errors["name"] = ["Company name is 1 to 200 characters."]
        tenant.name = name
        fields.append("name")
    if timezone_name is not None:
        try:
            zoneinfo.ZoneInfo(timezone_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = [
                f"Unknown time zone {timezone_name!r} (use an IANA name like Europe/Paris)."
            ]
        tenant.timezone = timezone_name
        fields.append("timezone")
    if currency is not None:
        currency = currency.strip().upper()
        if len(currency) != 3 or not (currency.isascii() and currency.isalpha()):  # the DB: ^[A-Z]{3}$
            errors["currency"] = ["Use a three-letter ISO 4217 code, e.g. EUR."]
        tenant.currency = currency
        fields.append("currency")
    if dry_run is not None:
        tenant.dry_run = dry_run
        fields.append("dry_run")
    if errors:
        tenant.refresh_from_db()
        raise TenancyError.invalid(errors)
    new = _workspace_state(tenant)
    changed = sorted(f for f in fields if new[f] != stored[f])
    if changed:
        with transaction.atomic():
            tenant.save(update_fields=changed)
            with schema_context(tenant.schema_name):
                governance.audit_record(
                    actor=actor,
                    action="workspace.update",
                    object_type=WORKSPACE_TYPE,
                    object_id=tenant.pk,
                    before={f: stored[f] for f in changed},
                    after={f: new[f] for f in changed},
                )
        logger.info(
            "tenant settings changed",
            extra={"tenant_slug": tenant.slug, "fields": changed, "actor": actor.label},
        )
    return tenant
