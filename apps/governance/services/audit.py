"""The audit trail: append an entry, verify the chain, export a bundle. The only code that writes it.

Each workspace's schema holds one chain. ``audit_record`` appends in the caller's transaction, so an
entry exists exactly when the change it records was committed. The hashing rule itself lives in
``apps.governance.chain`` (standard library only, shared with the offline verifier).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.actor import Actor, require_actor
from apps.core.locks import advisory_xact_lock
from apps.core.logging import request_id_var
from apps.core.tenant_context import require_tenant
from apps.governance import chain
from apps.governance.chain import ChainVerdict
from apps.governance.errors import invalid as _invalid
from apps.governance.models import AuditChainCheck, AuditEntry

# First key of the two-key advisory lock that serialises appends to one schema's chain ("KIKA").
_LOCK_CLASS = 0x4B494B41
_MAX = {"action": 100, "object_type": 100, "object_id": 200, "request_id": 200}
_STREAM_CHUNK = 2000


def _plain(field: str, value: Mapping[str, Any] | None) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _invalid(field, f"{field} must be a mapping of the object's (redacted) fields, or None.")
    try:
        plain = chain.to_plain(value)
        text = chain.canonical_json(plain)
        text.encode("utf-8")  # lone surrogates have no UTF-8 form
    except (TypeError, ValueError) as exc:
        raise _invalid(field, f"{field} cannot be recorded: {exc}") from exc
    if "\\u0000" in text:  # PostgreSQL cannot store NUL characters in text or jsonb
        raise _invalid(field, f"{field} contains a NUL character.")
    return plain


def audit_record(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Append one entry to the current workspace's chain, in the caller's transaction.

    Call it inside the ``transaction.atomic()`` block that makes the change (one is opened when
    there is none). An error here breaks the caller's transaction, so a change is never committed
    without its entry. Appends to one chain are serialised by a transaction-level advisory lock held
    until the caller commits: call this as the last write of the transaction to keep it short (and
    under READ COMMITTED, Django's default, so the head read after the lock is the committed one).

    ``before``/``after`` are the object's fields before and after the change, already redacted by
    the caller: never pass secrets, tokens, passwords or key material (pass ``"set"``/``"rotated"``
    or a fingerprint instead). Decimal, float, datetime, date, UUID and enums are recorded as the
    canonical strings of ``apps.governance.chain``. ``request_id`` defaults to the current request's.
    """
    schema = require_tenant("the audit trail")
    require_actor(actor)
    object_id_text = "" if object_id is None else str(object_id)
    request_id_text = request_id if request_id is not None else (request_id_var.get() or "")
    values = {"action": action, "object_type": object_type, "object_id": object_id_text}
    values["request_id"] = request_id_text
    for field, limit in _MAX.items():
        text = values[field]
        if field in ("action", "object_type") and not text.strip():
            raise _invalid(field, f"{field} is required.")
        if len(text) > limit:
            raise _invalid(field, f"{field} is at most {limit} characters.")
    before_plain, after_plain = _plain("before", before), _plain("after", after)

    with transaction.atomic(savepoint=False):
        advisory_xact_lock(schema, namespace=_LOCK_CLASS)
        head = AuditEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
        sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, chain.GENESIS_HASH)
        created_at = timezone.now().astimezone(dt.UTC)
        record: dict[str, Any] = {
            "sequence": sequence,
            "created_at": chain.format_time(created_at),
            "actor_kind": str(actor.kind),
            "actor_id": actor.id,
            "actor_name": actor.name,
            "action": action,
            "object_type": object_type,
            "object_id": object_id_text,
            "before": before_plain,
            "after": after_plain,
            "request_id": request_id_text,
            "prev_hash": prev_hash,
        }
        digest = chain.entry_hash(record)
        return AuditEntry.objects.create(
            **{**record, "created_at": created_at},
            hash=digest,
        )


def _records() -> Iterator[dict[str, Any]]:
    """The chain's entry records (``apps.governance.chain`` form) in sequence order, streamed."""
    rows = AuditEntry.objects.order_by("sequence").values_list(*chain.ENTRY_FIELDS)
    for row in rows.iterator(chunk_size=_STREAM_CHUNK):
        record = dict(zip(chain.ENTRY_FIELDS, row, strict=True))
        record["created_at"] = chain.format_time(record["created_at"])
        yield record


def _pinned_head() -> chain.Head | None:
    last_ok = AuditChainCheck.objects.filter(ok=True, entries__gt=0).order_by("-checked_at", "-id").first()
    return chain.Head(last_ok.entries, last_ok.head_hash) if last_ok else None


def audit_verify_chain(*, actor: Actor | None = None) -> ChainVerdict:
    """Walk the current workspace's chain in sequence order (streamed, constant memory), record the
    outcome as an ``AuditChainCheck`` and return it.

    Besides each entry's sequence, link and hash, the head recorded by the last successful check must
    still be there: a chain cut at its tail, or rewritten from some entry on, fails too.
    """
    require_tenant("verifying the audit trail")
    verdict = chain.verify_chain(_records(), pinned=_pinned_head())
    AuditChainCheck.objects.create(
        checked_at=timezone.now(),
        ok=verdict.ok,
        entries=verdict.entries,
        head_hash=verdict.head_hash,
        first_bad_sequence=verdict.first_bad_sequence,
        reason=verdict.reason,
        checked_by=(actor or Actor.system("governance.audit_verify_chain")).label,
    )
    return verdict


@dataclass(frozen=True, slots=True)
class AuditExport:
    directory: Path
    schema: str
    count: int
    head_hash: str
    exported_at: dt.datetime


def _write_atomically(path: Path, lines: Iterator[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for line in lines:
            fh.write(line)
    os.replace(tmp, path)


def audit_export(*, out_dir: str | Path) -> AuditExport:
    """Write the current workspace's chain as a bundle: ``entries.jsonl`` and ``head.json``.

    The rows are written as stored, without judging them: ``python -m apps.governance.verify_bundle``
    checks the bundle offline. ``head.json`` describes exactly the lines written (one snapshot).
    """
    schema = require_tenant("exporting the audit trail")
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    count, head_hash = 0, chain.GENESIS_HASH

    def lines() -> Iterator[str]:
        nonlocal count, head_hash
        for record in _records():
            count, head_hash = count + 1, record["hash"]
            yield chain.canonical_json(record) + "\n"

    with transaction.atomic():  # the server-side cursor reads one snapshot
        _write_atomically(directory / "entries.jsonl", lines())
    exported_at = timezone.now()
    head = {
        "format": chain.BUNDLE_FORMAT,
        "schema": schema,
        "count": count,
        "head_hash": head_hash,
        "exported_at": chain.format_time(exported_at),
    }
    _write_atomically(directory / "head.json", iter([json.dumps(head, indent=2, sort_keys=True) + "\n"]))
    return AuditExport(directory, schema, count, head_hash, exported_at)
