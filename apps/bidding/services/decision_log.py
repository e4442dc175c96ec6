"""Bid decisions leave the bidder's hot path as columns and are written by the worker.

``decisions_enqueue`` packs a decided batch (numpy columns + its few distinct outcomes) into one Redis
list entry and wakes ``bidding.record_bid_decisions`` (one task per burst: a SET NX flag, as the
webhook drain does). ``bid_decisions_flush`` (that task's service) writes each waiting batch with one
COPY. Exactly once: an entry is moved to a processing list before it is written and removed after its
transaction commits; a batch whose ``batch_id`` is already in the table (a crash between the two) is
not written again, and flushes of one workspace are serialised by an advisory lock.

Decisions are a record, not money (the budget reservation commits apart, synchronously), so their
transaction does not wait for its WAL flush, and a Redis restart may lose the batches still waiting.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import connection, transaction

from apps.bidding.models import BidDecision
from apps.core.locks import advisory_xact_lock
from apps.core.redis import get_redis
from apps.core.tenant_context import require_tenant

if TYPE_CHECKING:
    from apps.bidding.services.bidder import BidBatch

logger = logging.getLogger(__name__)

FLAG_TTL_S = 30
_LOCK_CLASS = 0x4B494244  # "KIBD"
_ARRAYS = (  # (name, dtype) in payload order
    ("campaign_ids", np.int64),
    ("customer_ids", np.int64),
    ("ltv_micros", np.int64),
    ("pacing_multiplier", np.float64),
    ("bid_micros", np.int64),
    ("outcome_index", np.int32),
    ("source_index", np.int8),
    ("version_index", np.int16),
    ("reservation_index", np.int16),
)
NULL = "\\N"  # COPY's text-format null
_COLUMNS = (
    "batch_id", "campaign_id", "created_at", "request_id", "customer_id", "audience", "predicted_ltv_micros",
    "ltv_source", "ltv_model_version", "pacing_multiplier", "bid_micros", "decision", "reasons",
    "policy_version", "dry_run", "reservation_id",
)  # fmt: skip


def _keys(schema: str) -> tuple[str, str, str]:
    base = f"kiki:bidding:decisions:{{{schema}}}"
    return f"{base}:queue", f"{base}:processing", f"{base}:flag"


def pack(batch: BidBatch, keep: np.ndarray, *, request_id: str) -> bytes:
    """One batch as bytes: a JSON header (the distinct outcomes, sources, versions, reservations) and
    the columns of the rows to keep, raw."""
    rows = np.flatnonzero(keep)
    versions: dict[str, int] = {}
    version_index = np.fromiter(
        (versions.setdefault(batch.ltv_model_version[i], len(versions)) for i in rows.tolist()),
        dtype=np.int16,
        count=len(rows),
    )
    reservations: dict[str, int] = {}
    reservation_index = np.fromiter(
        (reservations.setdefault(batch.reservation_id[i], len(reservations)) for i in rows.tolist()),
        dtype=np.int16,
        count=len(rows),
    )
    sources = sorted(set(batch.ltv_source))
    source_of = {s: i for i, s in enumerate(sources)}
    source_index = np.fromiter((source_of[batch.ltv_source[i]] for i in rows.tolist()), np.int8, len(rows))
    header = {
        "batch_id": str(uuid.uuid4()),
        "created_at": batch.decided_at.isoformat(),
        "request_id": request_id[:64],
        "policy_version": batch.policy_version,
        "dry_run": batch.dry_run,
        "n": len(rows),
        "outcomes": [[d, list(r)] for d, r in batch.outcome_table],
        "sources": sources,
        "versions": list(versions),
        "reservations": list(reservations),
    }
    columns = {
        "campaign_ids": batch.campaign_ids[rows],
        "customer_ids": batch.customer_ids[rows],
        "ltv_micros": batch.ltv_micros[rows],
        "pacing_multiplier": batch.pacing_multiplier[rows],
        "bid_micros": batch.bid_micros[rows],
        "outcome_index": batch.outcome_index[rows],
        "source_index": source_index,
        "version_index": version_index,
        "reservation_index": reservation_index,
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    body = b"".join(np.ascontiguousarray(columns[name], dtype=dtype).tobytes() for name, dtype in _ARRAYS)
    return struct.pack(">I", len(head)) + head + body


def unpack(payload: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    (size,) = struct.unpack(">I", payload[:4])
    header = json.loads(payload[4 : 4 + size])
    n, offset, columns = header["n"], 4 + size, {}
    for name, dtype in _ARRAYS:
        width = np.dtype(dtype).itemsize * n
        columns[name] = np.frombuffer(payload[offset : offset + width], dtype=dtype)
        offset += width
    return header, columns


def decisions_enqueue(batch: BidBatch, keep: np.ndarray, *, request_id: str) -> None:
    """Queue the kept rows of ``batch`` for writing and make sure a flush will run."""
    schema = require_tenant("recording bid decisions")
    if not keep.any():
        return
    queue, _processing, flag = _keys(schema)
    client = get_redis()
    client.rpush(queue, pack(batch, keep, request_id=request_id))
    if client.set(flag, 1, nx=True, ex=FLAG_TTL_S):
        from apps.bidding.tasks import record_bid_decisions

        record_bid_decisions.apply_async(headers={"_schema_name": schema})


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _write(header: dict[str, Any], cols: dict[str, np.ndarray]) -> int:
    batch_id = header["batch_id"]
    if BidDecision.objects.filter(batch_id=batch_id).exists():
        return 0  # written before a crash kept it in the processing list
    created, rid = header["created_at"], _copy_text(header["request_id"])
    dry = "t" if header["dry_run"] else "f"
    policy = header["policy_version"]
    outcomes = [(d, _copy_text(json.dumps(r, separators=(",", ":")))) for d, r in header["outcomes"]]
    sources, versions = header["sources"], [_copy_text(v) for v in header["versions"]]
    reservations = header["reservations"]
    mult = np.round(cols["pacing_multiplier"], 4).tolist()
    buf = io.StringIO()
    write = buf.write
    for campaign, customer, ltv, m, bid, o, s, v, r in zip(
        cols["campaign_ids"].tolist(), cols["customer_ids"].tolist(), cols["ltv_micros"].tolist(), mult,
        cols["bid_micros"].tolist(), cols["outcome_index"].tolist(), cols["source_index"].tolist(),
        cols["version_index"].tolist(), cols["reservation_index"].tolist(), strict=True,
    ):  # fmt: skip
        decision, reasons = outcomes[o]
        write(
            f"{batch_id}\t{campaign}\t{created}\t{rid}\t{customer if customer >= 0 else NULL}\t\t{ltv}\t"
            f"{sources[s]}\t{versions[v]}\t{m}\t{bid}\t{decision}\t{reasons}\t{policy}\t{dry}\t{reservations[r]}\n"
        )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        table = BidDecision._meta.db_table
        with cursor.cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            copy.write(buf.getvalue())
    return int(header["n"])


def bid_decisions_flush(*, max_batches: int = 10_000) -> int:
    """Write every waiting batch of this workspace (at most ``max_batches``); returns rows written."""
    schema = require_tenant("recording bid decisions")
    queue, processing, flag = _keys(schema)
    client = get_redis()
    client.delete(flag)  # before reading: a batch queued from now on wakes another flush
    written = 0
    for _ in range(max_batches):
        with transaction.atomic():
            advisory_xact_lock(schema, namespace=_LOCK_CLASS)
            found = client.lindex(processing, 0) or client.lmove(queue, processing, "LEFT", "RIGHT")
            if found is None:
                break
            payload = found if isinstance(found, bytes) else found.encode()
            header, cols = unpack(payload)
            written += _write(header, cols)
        client.lrem(processing, 1, payload)  # type: ignore[arg-type]  # after commit: a crash before this writes nothing twice
    return written


def bid_decisions_waiting() -> int:
    schema = require_tenant("recording bid decisions")
    queue, processing, _flag = _keys(schema)
    client = get_redis()
    return int(client.llen(queue)) + int(client.llen(processing))
