"""The only code that writes governance rows: users and roles, API keys, secrets, reports.

Every change to who may do what (users, roles, API keys) and to stored secrets writes its audit
entry (``audit_record``) in the same transaction, as that transaction's last write. Entries name
secrets and keys, never their values: no password, plaintext key, key hash or secret value.
"""

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

from apps.core.actor import Actor, ActorKind
from apps.core.tenant_context import db, require_tenant
from apps.governance.errors import ErrorCode, GovernanceError
from apps.governance.models import ApiKey, ReportRun, Secret
from apps.governance.roles import Role
from apps.governance.services.audit import audit_record

KEY_PREFIX = "kiki_"
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _is_user(actor: Actor, user: Any) -> bool:
    """Whether ``actor`` is ``user`` signed in (an API key or a task never is)."""
    return actor.kind is ActorKind.USER and actor.id == str(user.pk)


def _user_of(actor: Actor) -> Any | None:
    """The signed-in user behind ``actor`` in this workspace, or None (an API key, a task)."""
    if actor.kind is not ActorKind.USER or not actor.id.isdigit():
        return None
    return get_user_model().objects.filter(pk=actor.id).first()


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


def _user_type() -> str:
    return str(get_user_model()._meta.label_lower)


def _user_state(user: Any, role: Role | None) -> dict[str, Any]:
    """A user as the audit trail records it (never the password: only whether one can sign in)."""
    return {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": role.value if role else None,
        "is_active": user.is_active,
        "password": "set" if user.has_usable_password() else "unusable",
    }


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
    actor: Actor,
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
    role_ = _role(role)
    user.groups.set([Group.objects.get(name=role_.group_name)])
    audit_record(
        actor=actor,
        action="user.create",
        object_type=_user_type(),
        object_id=user.pk,
        after=_user_state(user, role_),
    )
    return user


def user_set_role_check(*, user: Any, role: str, actor: Actor) -> Role:
    require_tenant("changing a role")
    role_ = _role(role)
    if _is_user(actor, user) and role_ is not Role.ADMIN:
        raise GovernanceError(ErrorCode.VALIDATION, "You cannot remove your own Admin role.")
    _ensure_an_admin_remains(excluding=user if role_ is not Role.ADMIN else None)
    return role_


@transaction.atomic
def user_set_role(*, user: Any, role: str, actor: Actor) -> Any:
    role_ = user_set_role_check(user=user, role=role, actor=actor)
    before = user_role(user)
    user.groups.set([Group.objects.get(name=role_.group_name)])
    if before is not role_:
        audit_record(
            actor=actor,
            action="user.set_role",
            object_type=_user_type(),
            object_id=user.pk,
            before={"username": user.username, "role": before.value if before else None},
            after={"username": user.username, "role": role_.value},
        )
    return user


def user_deactivate_check(*, user: Any, actor: Actor) -> None:
    require_tenant("deactivating a user")
    if _is_user(actor, user):
        raise GovernanceError(ErrorCode.VALIDATION, "You cannot deactivate yourself.")
    _ensure_an_admin_remains(excluding=user)


@transaction.atomic
def user_deactivate(*, user: Any, actor: Actor) -> Any:
    """The user can no longer sign in; their API token is deleted (they are logged out everywhere)."""
    user_deactivate_check(user=user, actor=actor)
    was_active = get_user_model().objects.filter(pk=user.pk).values_list("is_active", flat=True).first()
    user.is_active = False
    user.save(update_fields=["is_active"])
    from rest_framework.authtoken.models import Token

    tokens = Token.objects.filter(user=user).delete()[0]
    if was_active or tokens:
        audit_record(
            actor=actor,
            action="user.deactivate",
            object_type=_user_type(),
            object_id=user.pk,
            before={"username": user.username, "is_active": bool(was_active)},
            after={"username": user.username, "is_active": False, "sessions_revoked": tokens},
        )
    return user


@transaction.atomic
def user_reactivate(*, user: Any, actor: Actor) -> Any:
    """A deactivated user may sign in again (with their role as it was)."""
    require_tenant("reactivating a user")
    was_active = get_user_model().objects.filter(pk=user.pk).values_list("is_active", flat=True).first()
    user.is_active = True
    user.save(update_fields=["is_active"])
    if not was_active:
        audit_record(
            actor=actor,
            action="user.reactivate",
            object_type=_user_type(),
            object_id=user.pk,
            before={"username": user.username, "is_active": False},
            after={"username": user.username, "is_active": True},
        )
    return user


@transaction.atomic
def user_update_profile(*, user: Any, actor: Actor, first_name: str, last_name: str) -> Any:
    """A user's name (the login and the e-mail do not change)."""
    require_tenant("changing a user")
    row = get_user_model().objects.filter(pk=user.pk).values_list("first_name", "last_name").first()
    stored = {"first_name": row[0], "last_name": row[1]} if row else {}
    user.first_name, user.last_name = first_name, last_name
    user.save(update_fields=["first_name", "last_name"])
    after = {"first_name": first_name, "last_name": last_name}
    changed = {k for k, v in after.items() if stored.get(k) != v}
    if changed:
        audit_record(
            actor=actor,
            action="user.update",
            object_type=_user_type(),
            object_id=user.pk,
            before={"username": user.username, **{k: stored.get(k) for k in sorted(changed)}},
            after={"username": user.username, **{k: after[k] for k in sorted(changed)}},
        )
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


def _key_state(key: ApiKey) -> dict[str, Any]:
    """A key as the audit trail records it: named by its public prefix, never its plaintext or hash."""
    return {
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


@transaction.atomic
def apikey_create(*, name: str, role: str, actor: Actor, expires_at: datetime | None = None) -> IssuedKey:
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
        created_by=_user_of(actor),
    )
    audit_record(
        actor=actor,
        action="apikey.create",
        object_type="governance.apikey",
        object_id=key.pk,
        after=_key_state(key),
    )
    return IssuedKey(key=key, plaintext=plaintext)


@transaction.atomic
def apikey_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key (idempotent: a revoked key stays revoked at its first revocation's time)."""
    require_tenant("revoking an API key")
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is None:
        before = _key_state(locked)
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="apikey.revoke",
            object_type="governance.apikey",
            object_id=locked.pk,
            before=before,
            after=_key_state(locked),
        )
    key.revoked_at = locked.revoked_at
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
def _secret_state(secret: Secret) -> dict[str, Any]:
    """A secret as the audit trail records it: its name and kind, never its value."""
    return {"name": secret.name, "kind": secret.kind, "description": secret.description}


@transaction.atomic
def secret_set(
    *, name: str, value: str, kind: str = "generic", description: str = "", actor: Actor
) -> Secret:
    """Store a secret, or rotate it (a new value under the same name). Audited without the value:
    ``secret.create``, ``secret.rotate`` (a new value) or ``secret.update`` (the same value again)."""
    require_tenant("storing a secret")
    if not name.strip() or not value:
        raise GovernanceError(ErrorCode.VALIDATION, "A secret needs a name and a value.")
    existing = Secret.objects.select_for_update().filter(name=name.strip()).first()
    before = _secret_state(existing) if existing is not None else None
    rotated = existing is not None and existing.value != value
    secret, _ = Secret.objects.update_or_create(
        name=name.strip(), defaults={"value": value, "kind": kind, "description": description}
    )
    if existing is None:
        action, value_state = "secret.create", "set"
    elif rotated:
        action, value_state = "secret.rotate", "rotated"
    else:
        action, value_state = "secret.update", "unchanged"
    audit_record(
        actor=actor,
        action=action,
        object_type="governance.secret",
        object_id=secret.pk,
        before=before,
        after={**_secret_state(secret), "value": value_state},
    )
    return secret


@transaction.atomic
def secret_update(*, secret: Secret, actor: Actor, name: str, kind: str, description: str) -> Secret:
    """A secret's name, kind or description; its value stays (``secret_set`` rotates it)."""
    require_tenant("changing a secret")
    name = name.strip()
    if not name:
        raise GovernanceError(ErrorCode.VALIDATION, "A secret needs a name.", details={"name": ["Required."]})
    locked = Secret.objects.select_for_update().get(pk=secret.pk)
    before = _secret_state(locked)
    if Secret.objects.filter(name=name).exclude(pk=locked.pk).exists():
        raise GovernanceError(
            ErrorCode.CONFLICT, "A secret with this name exists.", details={"name": ["Taken."]}
        )
    locked.name, locked.kind, locked.description = name, kind, description
    if _secret_state(locked) != before:
        locked.save(update_fields=["name", "kind", "description", "updated_at"])
        audit_record(
            actor=actor,
            action="secret.update",
            object_type="governance.secret",
            object_id=locked.pk,
            before=before,
            after={**_secret_state(locked), "value": "unchanged"},
        )
    return locked


# --- reports ------------------------------------------------------------------------------------
def report_request(*, kind: str, actor: Actor) -> ReportRun:
    require_tenant("requesting a report")
    if kind not in ReportRun.Kind.values:
        raise GovernanceError(
            ErrorCode.VALIDATION,
            f"Unknown report kind {kind!r}.",
            details={"kind": [f"One of {', '.join(ReportRun.Kind.values)}."]},
        )
    run = ReportRun.objects.create(kind=kind, requested_by=actor.label)
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
