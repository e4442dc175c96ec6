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
    mean_micros: int  # the workspace's mean stored LTV (the value of an audience bid)


@dataclass
class _Entry:
    arrays: stores.CustomerLtvArrays
    loaded_at: float
    mean_micros: int  # the mean stored LTV, computed once per load (not per batch)

    def fresh(self, version: int) -> bool:
        return self.arrays.version == version and time.monotonic() - self.loaded_at <= MAX_AGE_S


_lock = threading.Lock()
_entries: dict[str, _Entry] = {}


def _current() -> _Entry:
    schema = require_tenant("bidding from stored LTV")
    version = stores.customer_ltv_version()
    entry = _entries.get(schema)
    if entry is None or not entry.fresh(version):
        with _lock:
            entry = _entries.get(schema)
            if entry is None or not entry.fresh(version):
                arrays = stores.customer_ltv_arrays()
                mean = int(arrays.ltv_micros.mean()) if len(arrays.ltv_micros) else 0
                entry = _entries[schema] = _Entry(arrays, time.monotonic(), mean)
    return entry


def stored_ltv_lookup(customer_ids: NDArray[np.int64]) -> StoredLtv:
    """One read of the counter per batch: the mean for audience bids comes with the lookup."""
    entry = _current()
    arrays = entry.arrays
    ids = arrays.customer_ids
    zero = np.zeros(len(customer_ids), dtype=np.int64)
    if not len(ids):
        return StoredLtv(
            found=np.zeros(len(customer_ids), dtype=np.bool_),
            ltv_micros=zero, low_micros=zero, high_micros=zero, store_ids=zero,
            model_versions=arrays.model_versions, version_index=np.full(len(customer_ids), -1, dtype=np.int16),
            mean_micros=entry.mean_micros,
        )  # fmt: skip
    pos = np.minimum(np.searchsorted(ids, customer_ids), len(ids) - 1)
    found = np.asarray(ids[pos] == customer_ids, dtype=np.bool_)
    return StoredLtv(
        found=found,
        ltv_micros=np.where(found, arrays.ltv_micros[pos], zero),
        low_micros=np.where(found, arrays.low_micros[pos], zero),
        high_micros=np.where(found, arrays.high_micros[pos], zero),
        store_ids=np.where(found, arrays.store_ids[pos], zero),
        model_versions=arrays.model_versions,
        version_index=np.where(found, arrays.version_index[pos], -1).astype(np.int16),
        mean_micros=entry.mean_micros,
    )


def stored_ltv_mean_micros() -> int:
    """The mean stored LTV of the workspace: the value of an audience bid (no single customer)."""
    return _current().mean_micros


def forget() -> None:
    """Drop every tenant's arrays (tests)."""
    with _lock:
        _entries.clear()
