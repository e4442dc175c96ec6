"""Wire format v1 between the LTV client and the ml worker (msgpack over Redis lists).

Request, pushed (RPUSH) on the queue list ``kiki:ml:ltv:requests``:
    {"v": 1, "id": str, "reply_to": str, "deadline_ms": int (unix ms), "horizon_days": float,
     "model": str (optional: a published artefact's version; absent = the worker's default model),
     "items": [{"rfm": [frequency, recency_days, t_days, monetary, first_value], "as_of_day": int,
                "state": bytes (float32, the GRU state) | absent, "seq": bytes (float32, WEEKS×3) | absent,
                "channel": str (the customer's acquisition channel) | absent}]}
Reply, pushed on ``reply_to`` (expires after REPLY_TTL_S):
    {"v": 1, "id": str, "ok": bool, "error": str | None, "model_version": str,
     "items": [[purchases, spend, spend_low, spend_high], ...]}
Either ``state`` (precomputed ahead, the fast path) or ``seq`` (the worker runs the GRU) may be sent;
with neither, the worker answers from the BG/NBD+GG baseline for that item. ``channel`` is an input of
models trained with acquisition channels (``ml.ltv.features.ChannelCoding``; a channel the model did not
learn counts as "other", an absent one as unknown) and is ignored by the others; adding it kept v1.

``model``: the version (``metadata["model_version"]``, e.g. ``drnn-…``) of an artefact published with
``client.publish_artefact``, i.e. ``ml.ltv.train.dumps`` bytes stored under ``artefact_key(version)``
= ``kiki:ml:ltv:artefact:<version>`` (no expiry; versions are content hashes, so a key never changes).
A ``state`` must have been encoded by that same model. The worker loads a version on first use (one
GET) and keeps the most recently used ones. A version with no artefact is answered ``ok: false,
error: "unknown model <version>"`` (that request only; the client then falls back), and is not
looked up again for a couple of seconds. The reply's ``model_version`` is the model that scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

VERSION = 1
QUEUE = "kiki:ml:ltv:requests"
REPLY_PREFIX = "kiki:ml:ltv:reply:"
HEARTBEAT_PREFIX = "kiki:ml:heartbeat:"
ARTEFACT_PREFIX = "kiki:ml:ltv:artefact:"
REPLY_TTL_S = 30


def artefact_key(version: str) -> str:
    """Where a published model artefact (``ml.ltv.train.dumps`` bytes) lives, by model version."""
    return ARTEFACT_PREFIX + version


class WireError(ValueError):
    """A malformed or unsupported message."""


@dataclass(frozen=True)
class ScoreItem:
    frequency: float
    recency: float
    t: float
    monetary: float
    first_value: float
    as_of_day: int
    state: np.ndarray | None = None
    seq: np.ndarray | None = None
    channel: str | None = None  # acquisition channel, for models trained with channels

    def validate(self) -> None:
        if min(self.frequency, self.recency, self.t, self.monetary, self.first_value) < 0:
            raise ValueError("rfm values must be non-negative")
        if self.recency > self.t:
            raise ValueError("recency cannot exceed t (days since first purchase)")


def encode_request(
    req_id: str,
    reply_to: str,
    deadline_ms: int,
    horizon_days: float,
    items: list[ScoreItem],
    *,
    model: str | None = None,
) -> bytes:
    payload = []
    for it in items:
        entry: dict[str, Any] = {
            "rfm": [it.frequency, it.recency, it.t, it.monetary, it.first_value],
            "as_of_day": int(it.as_of_day),
        }
        if it.state is not None:
            entry["state"] = np.asarray(it.state, dtype=np.float32).tobytes()
        if it.seq is not None:
            entry["seq"] = np.asarray(it.seq, dtype=np.float32).tobytes()
        if it.channel:
            entry["channel"] = str(it.channel)
        payload.append(entry)
    message: dict[str, Any] = {
        "v": VERSION,
        "id": req_id,
        "reply_to": reply_to,
        "deadline_ms": int(deadline_ms),
        "horizon_days": float(horizon_days),
        "items": payload,
    }
    if model is not None:
        message["model"] = model
    return msgpack.packb(message)


def decode(raw: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(raw)
    except Exception as exc:
        raise WireError(f"not msgpack: {exc}") from exc
    if not isinstance(message, dict) or message.get("v") != VERSION:
        raise WireError(
            f"unsupported wire version {message.get('v') if isinstance(message, dict) else None!r}"
        )
    return message


def encode_reply(
    req_id: str,
    *,
    ok: bool,
    model_version: str = "",
    items: list[list[float]] | None = None,
    error: str | None = None,
) -> bytes:
    return msgpack.packb(
        {
            "v": VERSION,
            "id": req_id,
            "ok": ok,
            "error": error,
            "model_version": model_version,
            "items": items or [],
        }
    )
