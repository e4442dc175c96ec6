"""The workspace's LTV model registry: the locks that keep promotion and stored predictions in order,
publishing a model to the ml workers, and the promotion decision's text."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

from apps.bidding import ltv
from apps.bidding.models import LtvModel

logger = logging.getLogger(__name__)


def ltv_write_lock(schema: str) -> None:
    """Serialises, per workspace, storing predictions with promoting a model (transaction-scoped), so
    predictions made with a model that was replaced meanwhile are never written over newer ones."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"kiki:ltv:write:{schema}"])


@contextmanager
def session_lock(key: str) -> Iterator[bool]:
    """A session advisory lock (released on exit, or by PostgreSQL when the process dies)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])


def artefact_loader(model_pk: int) -> Callable[[], bytes]:
    """Reads a stored model's artefact bytes when called (only on a cache miss of the gateway)."""

    def load() -> bytes:
        return bytes(LtvModel.objects.values_list("artefact", flat=True).get(pk=model_pk))

    return load


def ltv_model_publish(*, version: str, artefact: bytes) -> bool:
    """Publish an artefact to the ml workers (idempotent). A Redis outage is logged, not raised: the
    nightly scoring publishes the active model again, and until then the fast path falls back."""
    try:
        ltv.ltv_publish(version, artefact)
    except Exception:
        logger.exception("could not publish LTV model %s to the ml workers", version)
        return False
    return True


def _figures(m: dict[str, float]) -> str:
    below, above = m.get("below_low", 0.0), m.get("above_high", 0.0)
    return f"spend MAE {m['spend_mae']:.2f}, interval tails {below:.3f} below / {above:.3f} above"


def ltv_promotion_text(
    decision: ltv.PromotionDecision,
    *,
    candidate: dict[str, float],
    current: dict[str, float] | None,
    against: str,
    window: str,
) -> str:
    """The decision stored on the model and its run, written from the decision itself: what it decided
    and the rule's reasons (a rejection always names the criteria it failed)."""
    if current is None:
        return (
            f"Promoted: first model of this workspace ({_figures(candidate)} on its validation window "
            f"{window})."
        )
    if decision.promote:
        return (
            f"Promoted: {_figures(candidate)} beats the active {against} ({_figures(current)}) on the same "
            f"window {window}: " + "; ".join(decision.reasons) + "."
        )
    return (
        f"Rejected: against the active {against} ({_figures(current)}) on the same window {window}, "
        + "; ".join(decision.reasons)
        + "."
    )
