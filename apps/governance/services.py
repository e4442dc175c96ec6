"""The only code that writes governance rows: users and roles, API keys, secrets, reports."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from apps.core.tenant_context import db, require_tenant
from apps.governance.errors import ErrorCode, GovernanceError
from apps.governance.models import ApiKey, ReportRun, Secret
from apps.governance.roles import Role

KEY_PREFIX = "kiki_"
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise GovernanceError(
            ErrorCode.VALIDATION,
            f"Unknown role {value!r}.",
            details={"role": [f"Role must be one of {', '.join(r.value for r in Role)}."]},
        ) from exc


def user_role(user: Any) -> Role | None:
    names = {g.name for g in user.groups.all()}
    for role in Role:
        if role.group_name in names:
            return role
    return None


# --- users --------------------------------------------------------------------------------------
# Each change has a check that raises GovernanceError and writes nothing, so the admin's forms show
# the same refusals as the API before anything is saved; the writing service runs the check again.
def user_create_check(*, email: str, role: str, password: str | None = None) -> str:
    """The normalised login (the e-mail, lower-case) of a user that may be created; else raises."""
    require_tenant("creating a user")
    _role(role)
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid email address."]
    user_model = get_user_model()
    if not errors and user_model.objects.filter(username=email).exists():
        raise GovernanceError(
            ErrorCode.CONFLICT, "A user with this email exists.", details={"email": ["Taken."]}
        )
    if password:
        try:
            password_validation.validate_password(password, user=user_model(username=email, email=email))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise GovernanceError(ErrorCode.VALIDATION, "The user has invalid fields.", details=errors)
    return email


@transaction.atomic
def user_create(
    *,
    email: str,
    role: str,
    actor: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
) -> AbstractUser:
    """A user of this workspace with one role. Without a password the user cannot sign in until they
    set one through the password reset (an invitation)."""
    email = user_create_check(email=email, role=role, password=password)
    user = get_user_model()(
        username=email, email=email, first_name=first_name, last_name=last_name, is_staff=True
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    user.groups.set([Group.objects.get(name=_role(role).group_name)])
    return user


def user_set_role_check(*, user: Any, role: str, actor: Any) -> Role:
    require_tenant("changing a role")
    role_ = _role(role)
    if getattr(actor, "pk", None) == user.pk and role_ is not Role.ADMIN:
        raise GovernanceError(ErrorCode.VALIDATION, "You cannot remove your own Admin role.")
    _ensure_an_admin_remains(excluding=user if role_ is not Role.ADMIN else None)
    return role_


@transaction.atomic
def user_set_role(*, user: Any, role: str, actor: Any) -> Any:
    role_ = user_set_role_check(user=user, role=role, actor=actor)
    user.groups.set([Group.objects.get(name=role_.group_name)])
    return user


def user_deactivate_check(*, user: Any, actor: Any) -> None:
    require_tenant("deactivating a user")
    if getattr(actor, "pk", None) == user.pk:
        raise GovernanceError(ErrorCode.VALIDATION, "You cannot deactivate yourself.")
    _ensure_an_admin_remains(excluding=user)


@transaction.atomic
def user_deactivate(*, user: Any, actor: Any) -> Any:
    user_deactivate_check(user=user, actor=actor)
    user.is_active = False
    user.save(update_fields=["is_active"])
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
    return user


def _ensure_an_admin_remains(*, excluding: Any | None) -> None:
    if excluding is None:
        return
    admins = get_user_model().objects.filter(is_active=True, groups__name=Role.ADMIN.group_name)
    if not admins.exclude(pk=excluding.pk).exists():
        raise GovernanceError(ErrorCode.VALIDATION, "A workspace must keep at least one active Admin.")


# --- API keys -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    plaintext: str  # shown once, never stored


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


@transaction.atomic
def apikey_create(*, name: str, role: str, actor: Any, expires_at: datetime | None = None) -> IssuedKey:
    require_tenant("creating an API key")
    role_ = _role(role)
    name = name.strip()
    if not name:
        raise GovernanceError(ErrorCode.VALIDATION, "Name the key.", details={"name": ["Required."]})
    if expires_at is not None and expires_at <= timezone.now():
        raise GovernanceError(
            ErrorCode.VALIDATION,
            "Expiry must be in the future.",
            details={"expires_at": ["Must be in the future."]},
        )
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_PREFIX}{prefix}.{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        name=name,
        prefix=prefix,
        key_hash=_hash(plaintext),
        role=role_.value,
        expires_at=expires_at,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    return IssuedKey(key=key, plaintext=plaintext)


def apikey_revoke(*, key: ApiKey, actor: Any) -> ApiKey:
    require_tenant("revoking an API key")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def apikey_authenticate(plaintext: str) -> ApiKey | None:
    """The key row for a presented key if it is valid here (this tenant, not revoked, not expired)."""
    if not plaintext.startswith(KEY_PREFIX) or "." not in plaintext or db().tenant is None:
        return None
    prefix = plaintext[len(KEY_PREFIX) :].split(".", 1)[0]
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(plaintext)):
        return None
    now = timezone.now()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        # One write a minute at most per key, not one per request.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- secrets ------------------------------------------------------------------------------------
def secret_set(*, name: str, value: str, kind: str = "generic", description: str = "", actor: Any) -> Secret:
    require_tenant("storing a secret")
    if not name.strip() or not value:
        raise GovernanceError(ErrorCode.VALIDATION, "A secret needs a name and a value.")
    secret, _ = Secret.objects.update_or_create(
        name=name.strip(), defaults={"value": value, "kind": kind, "description": description}
    )
    return secret


# --- reports ------------------------------------------------------------------------------------
def report_request(*, kind: str, actor: str) -> ReportRun:
    require_tenant("requesting a report")
    if kind not in ReportRun.Kind.values:
        raise GovernanceError(
            ErrorCode.VALIDATION,
            f"Unknown report kind {kind!r}.",
            details={"kind": [f"One of {', '.join(ReportRun.Kind.values)}."]},
        )
    run = ReportRun.objects.create(kind=kind, requested_by=actor)
    from apps.governance.tasks import run_report

    transaction.on_commit(lambda: run_report.delay(run.pk))
    return run


def report_execute(*, run_id: int) -> ReportRun:
    """Idempotent: a finished run is returned as is; a re-delivered one recomputes the same result."""
    schema = require_tenant("running a report")
    run = ReportRun.objects.filter(pk=run_id).first()
    if run is None:
        raise GovernanceError(ErrorCode.NOT_FOUND, f"No report run {run_id} in this workspace.")
    if run.status == ReportRun.Status.DONE:
        return run
    ReportRun.objects.filter(pk=run.pk).update(status=ReportRun.Status.RUNNING, started_at=timezone.now())
    from apps.governance.selectors import access_review

    try:
        result = access_review()
    except Exception as exc:
        ReportRun.objects.filter(pk=run.pk).update(
            status=ReportRun.Status.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    ReportRun.objects.filter(pk=run.pk).update(
        status=ReportRun.Status.DONE, result=result, finished_at=timezone.now(), worker_schema=schema
    )
    run.refresh_from_db()
    return run
