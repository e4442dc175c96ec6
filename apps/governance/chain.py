"""The audit trail's hash chain: canonical JSON, entry hashes and chain verification, in one place.

Standard library only. The Django service (``apps.governance.services.audit``) and the offline
verifier (``python -m apps.governance.verify_bundle``) both use this module, so the rule that makes an
entry's hash is written once. What follows is the complete specification, enough to reimplement a
verifier without this code.

Entry record
    An entry is a JSON object with exactly these 13 members:

    ``sequence``     integer, 1 for the first entry of a workspace, then +1 per entry, no gaps
    ``created_at``   string, UTC time ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits)
    ``actor_kind``   string: ``user``, ``api_key`` or ``system``
    ``actor_id``     string (user pk, API key prefix, task name)
    ``actor_name``   string (what a person reads)
    ``action``       string, e.g. ``apikey.create``
    ``object_type``  string, e.g. ``governance.apikey``
    ``object_id``    string, ``""`` when the action is about no single object
    ``before``       JSON value or ``null``: the object's state before the action (redacted)
    ``after``        JSON value or ``null``: the object's state after the action (redacted)
    ``request_id``   string, ``""`` when the action came from no HTTP request
    ``prev_hash``    string, the ``hash`` of entry ``sequence - 1``; for entry 1 the genesis value,
                     64 ASCII zeros
    ``hash``         string, 64 lower-case hexadecimal digits, defined below

Canonical JSON (of any JSON value)
    UTF-8 bytes of the JSON text with: object members sorted by key, comparing keys as sequences of
    Unicode code points; no whitespace at all (separators ``,`` and ``:``); strings written with
    the characters themselves (no ``\\uXXXX`` escapes for non-ASCII), escaping only ``"`` as ``\\"``,
    ``\\`` as ``\\\\``, and U+0000..U+001F as ``\\b \\t \\n \\f \\r`` where those exist, otherwise
    ``\\u00xx`` with lower-case hex digits; integers as decimal digits with an optional leading
    ``-`` and no leading zeros; ``true``, ``false``, ``null``. Arrays keep their order. There are no
    non-integer numbers in an entry: before a value is recorded, ``Decimal`` becomes its string
    (``str(Decimal("1.50"))`` is ``"1.50"``), a float its shortest round-trip string
    (``repr(0.1)`` is ``"0.1"``), a datetime the UTC form above, a date ``YYYY-MM-DD``, a UUID its
    hyphenated lower-case form. This is exactly Python's
    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")``.

Entry hash
    ``hash = lower-case hex of SHA-256( ASCII(prev_hash) || canonical_json(E) )`` where ``E`` is the
    entry record without its ``hash`` member (the 12 other members, ``prev_hash`` included) and
    ``ASCII(prev_hash)`` is the 64 hex characters of the previous hash as ASCII bytes (not the 32
    raw bytes).

Chain
    Entries are read in ``sequence`` order. A chain of n entries is valid when entry i has sequence
    i, its ``prev_hash`` equals entry i-1's ``hash`` (genesis for i = 1) and its ``hash`` equals
    the value recomputed from its contents. The chain's head hash is the hash of entry n, or genesis
    when n = 0. A head recorded earlier (by an export's ``head.json`` or an earlier verification)
    pins the first entries: if entry ``count`` no longer has that hash, or fewer entries remain,
    the chain was rewritten or cut.

Bundle (``manage.py audit_export``)
    ``entries.jsonl``: one entry record per line, canonical JSON, ``hash`` included, lines ending in
    ``\\n``. ``head.json``: ``{"format": "kiki-audit-bundle/1", "schema", "count", "head_hash",
    "exported_at"}``; ``count`` and ``head_hash`` must match the chain in ``entries.jsonl`` exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, TypeAlias

GENESIS_HASH = "0" * 64
BUNDLE_FORMAT = "kiki-audit-bundle/1"
HASHED_FIELDS = (
    "sequence",
    "created_at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "request_id",
    "prev_hash",
)
ENTRY_FIELDS = (*HASHED_FIELDS, "hash")
_STRING_FIELDS = tuple(name for name in ENTRY_FIELDS if name not in ("sequence", "before", "after"))
_HEX = frozenset("0123456789abcdef")

JsonValue: TypeAlias = "None | bool | int | str | list[JsonValue] | dict[str, JsonValue]"


def format_time(value: dt.datetime) -> str:
    """An aware datetime as the entry's UTC text, ``2026-01-31T23:59:59.000001Z``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_plain(value: Any) -> JsonValue:
    """``value`` as a JSON value with no non-integer numbers (see the module docstring).

    Refuses what has no single faithful text: naive datetimes, non-finite numbers, bytes, mappings
    with non-string keys, and arbitrary objects.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return to_plain(value.value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot record a non-finite Decimal ({value})")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot record a non-finite float ({value})")
        return repr(value)
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, JsonValue] = {}
        for key, item in value.items():
            if isinstance(key, Enum):
                key = key.value
            if not isinstance(key, str):
                raise TypeError(f"audit values need string keys, got {type(key).__name__} {key!r}")
            out[str(key)] = to_plain(item)
        return out
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        items = [to_plain(item) for item in value]
        return sorted(items, key=canonical_json)
    raise TypeError(f"cannot record a {type(value).__name__} in the audit trail")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (after :func:`to_plain`)."""
    return json.dumps(
        to_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode("utf-8")


def entry_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of ``prev_hash`` (ASCII hex) followed by the canonical JSON of the hashed fields."""
    body = {name: record[name] for name in HASHED_FIELDS}
    digest = hashlib.sha256(str(record["prev_hash"]).encode("ascii"))
    digest.update(canonical_bytes(body))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    """A chain's length and the hash of its last entry, as recorded by an export or a check."""

    count: int
    head_hash: str


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """The outcome of walking a chain. ``entries``/``head_hash`` describe the part that verified."""

    ok: bool
    entries: int
    head_hash: str
    first_bad_sequence: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unparsable:
    """Stands in the walk for a line that could not be read as a record; ``problem`` says why."""

    problem: str


def _is_hex64(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def record_problem(record: Any) -> str:
    """Why ``record`` is not a well-formed entry record, or ``""``."""
    if isinstance(record, Unparsable):
        return record.problem
    if not isinstance(record, Mapping):
        return "is not a JSON object"
    missing = [name for name in ENTRY_FIELDS if name not in record]
    if missing:
        return f"lacks {', '.join(missing)}"
    extra = sorted(set(record) - set(ENTRY_FIELDS))
    if extra:
        return f"has unexpected fields {', '.join(extra)}"
    sequence = record["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        return f"has an invalid sequence {sequence!r}"
    for name in _STRING_FIELDS:
        if not isinstance(record[name], str):
            return f"has a non-string {name}"
    if not _is_hex64(record["prev_hash"]) or not _is_hex64(record["hash"]):
        return "has a prev_hash or hash that is not 64 lower-case hex digits"
    try:
        canonical_json({"before": record["before"], "after": record["after"]})
    except (TypeError, ValueError) as exc:
        return f"has before/after that are not plain JSON ({exc})"
    return ""


def verify_chain(records: Iterable[Any], *, pinned: Head | None = None, exact: bool = False) -> ChainVerdict:
    """Walk ``records`` (entry records in the order read, streamed) and name the first bad entry.

    ``pinned``: a head recorded earlier; entry ``pinned.count`` must still have ``pinned.head_hash``.
    ``exact``: the chain must also end there (an export's ``head.json``), not merely contain it.
    """
    expected = 1
    prev = GENESIS_HASH

    def bad(sequence: int, reason: str) -> ChainVerdict:
        return ChainVerdict(False, expected - 1, prev, sequence, reason)

    for record in records:
        problem = record_problem(record)
        if problem:
            return bad(expected, f"entry {expected} {problem}")
        sequence = record["sequence"]
        if sequence != expected:
            return bad(
                expected,
                f"expected entry {expected} but found entry {sequence}: "
                f"entry {expected} was deleted, or entries were inserted or moved",
            )
        if record["prev_hash"] != prev:
            previous = f"entry {expected - 1}" if expected > 1 else "the genesis value"
            return bad(expected, f"entry {expected}'s prev_hash does not match the hash of {previous}")
        if entry_hash(record) != record["hash"]:
            return bad(expected, f"entry {expected}'s hash does not match its contents: it was altered")
        if pinned is not None and sequence == pinned.count and record["hash"] != pinned.head_hash:
            return bad(
                expected,
                f"entry {expected}'s hash differs from the recorded head {pinned.head_hash[:12]}…: "
                f"the chain was rewritten up to here",
            )
        if exact and pinned is not None and sequence > pinned.count:
            return bad(
                expected,
                f"entry {expected} is beyond the recorded head of {pinned.count} entries: it was added",
            )
        prev = record["hash"]
        expected += 1
    count = expected - 1
    if pinned is not None and count < pinned.count:
        return bad(
            count + 1,
            f"the chain ends at entry {count} but {pinned.count} entries were recorded: "
            f"entries {count + 1}..{pinned.count} were deleted",
        )
    if pinned is not None and pinned.count == 0 and pinned.head_hash != GENESIS_HASH:
        return bad(1, "the recorded head of an empty chain is not the genesis value")
    return ChainVerdict(True, count, prev)


def parse_record_line(line: str) -> Any:
    """One ``entries.jsonl`` line as a record; duplicate keys are refused (they would hide edits)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    return json.loads(line, object_pairs_hook=no_duplicates)
