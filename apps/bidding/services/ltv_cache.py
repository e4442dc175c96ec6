"""The bidder's in-process view of stored predictions: every scored customer's LTV and interval as
numpy arrays per tenant, looked up vectorised (``np.searchsorted``), so a batch of bids makes no
query and no RPC per bid.

Fresh by construction: stores bumps a counter after every commit that changes stored predictions
(nightly scoring, rescoring after orders, redaction); each lookup reads that counter (one Redis GET
per batch) and reloads when it moved. ``MAX_AGE_S`` bounds staleness should a bump be lost.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from apps.core.tenant_context import require_tenant
from apps.stores import selectors as stores

MAX_AGE_S = 300.0


@dataclass(frozen=True)
class StoredLtv:
    """Aligned with the asked ids; ``found`` False where a customer has no stored prediction."""

    found: NDArray[np.bool_]
    ltv_micros: NDArray[np.int64]
    low_micros: NDArray[np.int64]
    high_micros: NDArray[np.int64]
    store_ids: NDArray[np.int64]
    model_versions: tuple[str, ...]
    version_index: NDArray[np.int16]  # -1 where not found


@dataclass
class _Entry:
    arrays: stores.CustomerLtvArrays
    loaded_at: float


_lock = threading.Lock()
_entries: dict[str, _Entry] = {}


def _current() -> stores.CustomerLtvArrays:
    schema = require_tenant("bidding from stored LTV")
    version = stores.customer_ltv_version()
    entry = _entries.get(schema)
    if entry is None or entry.arrays.version != version or time.monotonic() - entry.loaded_at > MAX_AGE_S:
        with _lock:
            entry = _entries.get(schema)
            if (
                entry is None
                or entry.arrays.version != version
                or time.monotonic() - entry.loaded_at > MAX_AGE_S
            ):
                entry = _Entry(stores.customer_ltv_arrays(), time.monotonic())
                _entries[schema] = entry
    return entry.arrays


def stored_ltv_lookup(customer_ids: NDArray[np.int64]) -> StoredLtv:
    arrays = _current()
    ids = arrays.customer_ids
    pos = np.searchsorted(ids, customer_ids)
    pos_c = np.minimum(pos, max(len(ids) - 1, 0))
    found = (len(ids) > 0) & (ids[pos_c] == customer_ids) if len(ids) else np.zeros(len(customer_ids), bool)
    zero = np.zeros(len(customer_ids), dtype=np.int64)

    def take(a: NDArray[np.int64]) -> NDArray[np.int64]:
        return np.where(found, a[pos_c], zero) if len(ids) else zero

    vidx = (
        np.where(found, arrays.version_index[pos_c], -1).astype(np.int16)
        if len(ids)
        else zero.astype(np.int16) - 1
    )
    return StoredLtv(
        found=np.asarray(found, dtype=np.bool_),
        ltv_micros=take(arrays.ltv_micros),
        low_micros=take(arrays.low_micros),
        high_micros=take(arrays.high_micros),
        store_ids=take(arrays.store_ids),
        model_versions=arrays.model_versions,
        version_index=vidx,
    )


def stored_ltv_mean_micros() -> int:
    """The mean stored LTV of the workspace: the value of an audience bid (no single customer)."""
    arrays = _current()
    return int(arrays.ltv_micros.mean()) if len(arrays.ltv_micros) else 0


def forget() -> None:
    """Drop every tenant's arrays (tests)."""
    with _lock:
        _entries.clear()
