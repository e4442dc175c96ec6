"""A store connection's audit entries: what a store is, as the audit trail records it (never its
credentials or webhook secret, only whether it holds them), written through governance's audit trail."""

from __future__ import annotations

from typing import Any

from apps.core.actor import Actor
from apps.governance import services as governance
from apps.stores.models import StoreConnection

STORE_TYPE = StoreConnection._meta.label_lower  # "stores.storeconnection"
AUDITED_FIELDS = ("platform", "name", "shop_domain", "currency", "status", "granted_scopes", "api_version")


def store_audit_state(store: StoreConnection, **extra: Any) -> dict[str, Any]:
    """A store as the audit trail records it: what it is and whether it holds credentials, never them."""
    state: dict[str, Any] = {f: getattr(store, f) for f in AUDITED_FIELDS}
    state["credentials"] = "set" if store.credentials else "none"
    return {**state, **extra}


def store_audit(
    *,
    store: StoreConnection,
    actor: Actor,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """The store change's audit entry, in the caller's transaction (its last write)."""
    governance.audit_record(
        actor=actor, action=action, object_type=STORE_TYPE, object_id=store.pk, before=before, after=after
    )
