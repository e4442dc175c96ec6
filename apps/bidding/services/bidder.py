"""The bidder: a batch of bid requests → decisions, vectorised over the batch.

For each request (campaign, customer or audience, context):

1. **Predicted LTV.** The customer's stored prediction (nightly scoring) from the in-process arrays of
   ``ltv_cache``: no query and no RPC per bid. A customer without a stored prediction takes the ml
   worker path (``ltv_score_customers_fast_path``, one call for all of them, BG/NBD+GG when the worker
   cannot answer); a customer without any purchase, or an audience request, is valued at the
   workspace's mean stored LTV. The decision names its source.
2. **Bid** = predicted LTV × conversion rate ÷ target ROAS × the campaign's pacing multiplier
   (``pacing``), rounded half-even to whole micros and capped by the policy's max bid.
3. **Governance**: the policy rules (``governance.actions_check_columns``: the same rule as the check
   endpoint, on columns) and a budget reservation per campaign for the bids it allows, in one Redis
   call for the batch; bids a cap cannot hold are denied ``over_budget``, the first ones kept.
4. **A decision with its reasons**, returned, and recorded as ``BidDecision`` rows by the worker
   (``decision_log``: the batch's columns go to Redis here, one COPY per batch there), dry run included. Nothing here calls a platform: bids reach platforms only through the outbox.

Target ROAS: the campaign's, else the policy's minimum ROAS, else 1. Conversion rate: the request's
``context.conversion_rate`` (0–1, default 1: the bid is the value of a conversion, as value-based
bidding sets it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone
from numpy.typing import NDArray

from apps.bidding.errors import BiddingError, ErrorCode
from apps.bidding.models import BidDecision, Campaign
from apps.bidding.services import ltv_cache
from apps.bidding.services.decision_log import decisions_enqueue
from apps.bidding.services.ltv_scoring import ltv_score_customers_fast_path
from apps.bidding.services.pacing import day_fraction, pacing_multipliers
from apps.core.actor import Actor
from apps.core.logging import request_id_var
from apps.core.money import float_to_micros
from apps.core.tenant_context import require_tenant
from apps.governance import services as governance
from apps.stores import selectors as stores

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
ROAS_SCALE = governance.ROAS_SCALE
SOURCE = BidDecision.LtvSource
_SOURCES = (SOURCE.STORED, SOURCE.WORKER, SOURCE.FALLBACK, SOURCE.NONE)
_SRC = {s: i for i, s in enumerate(_SOURCES)}
_AUDIENCE = _SRC[SOURCE.NONE]


class BidReason:
    """Reasons the bidder adds to governance's (codes are stable; messages are for people)."""

    UNKNOWN_CAMPAIGN = "unknown_campaign"
    CAMPAIGN_NOT_ACTIVE = "campaign_not_active"
    UNKNOWN_CUSTOMER = "unknown_customer"
    PACED_OUT = "paced_out"
    NO_VALUE = "no_value"


_BID_REASON_TEXT = {
    BidReason.UNKNOWN_CAMPAIGN: "No such campaign in this workspace.",
    BidReason.CAMPAIGN_NOT_ACTIVE: "The campaign is not active (paused or removed).",
    BidReason.UNKNOWN_CUSTOMER: "No such customer in this workspace.",
    BidReason.PACED_OUT: "The campaign's daily budget is spent (pacing).",
    BidReason.NO_VALUE: "The predicted value rounds to a zero bid.",
}


@dataclass(frozen=True)
class BidRequest:
    campaign_id: int
    customer_id: int | None = None
    audience: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BidBatch:
    """Decisions as columns aligned with the requests (``decision`` holds ``BidDecision.Decision``
    values); ``reasons[i]`` is a tuple of ``{"code", "message"}`` dicts shared between equal outcomes."""

    campaign_ids: NDArray[np.int64]
    customer_ids: NDArray[np.int64]  # -1: none
    ltv_micros: NDArray[np.int64]
    ltv_low_micros: NDArray[np.int64]
    ltv_high_micros: NDArray[np.int64]
    ltv_source: tuple[str, ...]
    ltv_model_version: tuple[str, ...]
    pacing_multiplier: NDArray[np.float64]
    bid_micros: NDArray[np.int64]
    decision: tuple[str, ...]
    reasons: tuple[tuple[Mapping[str, str], ...], ...]
    reservation_id: tuple[str, ...]
    policy_version: int
    dry_run: bool
    decided_at: datetime
    outcome_table: tuple[tuple[str, tuple[Mapping[str, str], ...]], ...] = ()  # distinct (decision, reasons)
    outcome_index: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def __len__(self) -> int:
        return len(self.campaign_ids)

    def as_dicts(self) -> list[dict[str, Any]]:
        """The API's rows."""
        out = []
        for i in range(len(self)):
            customer = int(self.customer_ids[i])
            out.append(
                {
                    "campaign_id": int(self.campaign_ids[i]),
                    "customer_id": customer if customer >= 0 else None,
                    "decision": self.decision[i],
                    "bid_micros": int(self.bid_micros[i]),
                    "reasons": list(self.reasons[i]),
                    "ltv": {
                        "predicted_micros": int(self.ltv_micros[i]),
                        "low_micros": int(self.ltv_low_micros[i]),
                        "high_micros": int(self.ltv_high_micros[i]),
                        "source": self.ltv_source[i],
                        "model_version": self.ltv_model_version[i],
                    },
                    "pacing_multiplier": round(float(self.pacing_multiplier[i]), 4),
                    "reservation_id": self.reservation_id[i] or None,
                    "policy_version": self.policy_version,
                    "dry_run": self.dry_run,
                }
            )
        return out


@dataclass(frozen=True)
class _Campaigns:
    """The batch's distinct campaigns as columns (index ``k`` per distinct id)."""

    ids: NDArray[np.int64]
    found: NDArray[np.bool_]
    active: NDArray[np.bool_]
    platform: tuple[str, ...]
    key: tuple[str, ...]
    budget: NDArray[np.int64]
    target_roas_scaled: NDArray[np.int64]


def _load_campaigns(ids: NDArray[np.int64], default_roas_scaled: int) -> _Campaigns:
    rows = {
        pk: (status, platform, budget, roas)
        for pk, status, platform, budget, roas in Campaign.objects.filter(pk__in=ids.tolist()).values_list(
            "pk", "status", "account__platform", "daily_budget_micros", "target_roas"
        )
    }
    found = np.fromiter((int(i) in rows for i in ids), dtype=bool, count=len(ids))
    get = [rows.get(int(i)) for i in ids]
    return _Campaigns(
        ids=ids,
        found=found,
        active=np.fromiter((r is not None and r[0] == Campaign.Status.ACTIVE for r in get), bool, len(ids)),
        platform=tuple(r[1] if r else "" for r in get),
        key=tuple(str(int(i)) for i in ids),
        budget=np.fromiter((r[2] if r else 0 for r in get), dtype=np.int64, count=len(ids)),
        target_roas_scaled=np.fromiter(
            (int(r[3] * ROAS_SCALE) if r and r[3] is not None else default_roas_scaled for r in get),
            dtype=np.int64,
            count=len(ids),
        ),
    )


def _conversion_rates(requests: Sequence[BidRequest]) -> NDArray[np.int64]:
    """Each request's conversion rate in 1/ROAS_SCALE (exact: parsed as Decimal, never float)."""
    out = np.full(len(requests), ROAS_SCALE, dtype=np.int64)
    for i, r in enumerate(requests):
        rate = r.context.get("conversion_rate") if r.context else None
        if rate is None:
            continue
        try:
            value = Decimal(str(rate))
        except ArithmeticError:
            value = Decimal(-1)
        if not value.is_finite() or not 0 <= value <= 1:
            raise BiddingError(
                ErrorCode.VALIDATION,
                f"Request {i}: context.conversion_rate must be a number from 0 to 1.",
                details={f"requests[{i}].context.conversion_rate": ["A number from 0 to 1."]},
            )
        out[i] = int(value * ROAS_SCALE)
    return out


def _ltv(
    customer_ids: NDArray[np.int64], actor: Actor
) -> tuple[
    NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int8], list[str], NDArray[np.bool_]
]:
    """LTV (mid, low, high micros), source index, model version per request, and the unknown mask."""
    n = len(customer_ids)
    has_customer = customer_ids >= 0
    stored = ltv_cache.stored_ltv_lookup(customer_ids)
    mid, low, high = stored.ltv_micros.copy(), stored.low_micros.copy(), stored.high_micros.copy()
    source = np.full(n, _AUDIENCE, dtype=np.int8)
    source[stored.found] = _SRC[SOURCE.STORED]
    versions = [""] * n
    for i in np.flatnonzero(stored.found).tolist():
        versions[i] = stored.model_versions[int(stored.version_index[i])]
    unknown = np.zeros(n, dtype=bool)
    missing = np.flatnonzero(has_customer & ~stored.found)
    if len(missing):
        wanted = sorted({int(customer_ids[i]) for i in missing})
        rows = {r.id: r for r in stores.customers_for_scoring(customer_ids=wanted)}
        scorable = [pk for pk in wanted if pk in rows and rows[pk].orders_count > 0]
        scores = {}
        if scorable:
            scored = ltv_score_customers_fast_path(
                customer_ids=scorable, horizon_days=settings.KIKI_LTV_HORIZON_DAYS, actor=actor
            )
            scores = {s.customer_id: s.score.prediction for s in scored}
        for i in missing.tolist():
            pk = int(customer_ids[i])
            if pk not in rows:
                unknown[i] = True
            elif pk in scores:
                p = scores[pk]
                mid[i], low[i], high[i] = (float_to_micros(p.spend), float_to_micros(p.spend_low),
                                           float_to_micros(p.spend_high))  # fmt: skip
                source[i] = _SRC[SOURCE.FALLBACK if p.fallback else SOURCE.WORKER]
                versions[i] = p.model_version
    audience = source == _AUDIENCE
    if audience.any():
        mid[audience] = low[audience] = high[audience] = stored.mean_micros
    return mid, low, high, source, versions, unknown


def bids_decide(*, requests: Sequence[BidRequest], actor: Actor, now: datetime | None = None) -> BidBatch:
    """Decide a batch of bids (at most ``MAX_BATCH``) and record every decision."""
    require_tenant("deciding bids")
    if not requests:
        raise BiddingError(ErrorCode.VALIDATION, "No bid requests.", details={"requests": ["At least one."]})
    if len(requests) > MAX_BATCH:
        raise BiddingError(
            ErrorCode.VALIDATION,
            f"At most {MAX_BATCH} bid requests per call.",
            details={"requests": [f"At most {MAX_BATCH}."]},
        )
    now = now or timezone.now()
    n = len(requests)
    campaign_ids = np.fromiter((r.campaign_id for r in requests), dtype=np.int64, count=n)
    customer_ids = np.fromiter(
        (-1 if r.customer_id is None else r.customer_id for r in requests), dtype=np.int64, count=n
    )
    rates = _conversion_rates(requests)
    return _decide(campaign_ids, customer_ids, rates, actor=actor, now=now)


def _decide(
    campaign_ids: NDArray[np.int64],
    customer_ids: NDArray[np.int64],
    rates: NDArray[np.int64],
    *,
    actor: Actor,
    now: datetime,
) -> BidBatch:
    n = len(campaign_ids)
    policy = governance.policy_current()
    default_roas = int(policy.min_roas * ROAS_SCALE) if policy.min_roas else ROAS_SCALE
    distinct, k = np.unique(campaign_ids, return_inverse=True)
    campaigns = _load_campaigns(distinct, default_roas)

    # 1. predicted LTV
    mid, low, high, source, versions, unknown_customer = _ltv(customer_ids, actor)

    # 2. bid = LTV × rate ÷ target ROAS × pacing, capped by the policy (integer micros)
    spent = governance.budget_campaign_spent_today(campaigns=list(campaigns.key), at=now)
    multiplier_c = pacing_multipliers(
        daily_budget_micros=campaigns.budget,
        spent_micros=np.asarray([spent.get(key, 0) for key in campaigns.key], dtype=np.int64),
        day_fraction=day_fraction(now, str(governance.workspace_timezone().key)),
    )
    multiplier = multiplier_c[k]
    value = mid * rates // ROAS_SCALE  # the value of the request: LTV × conversion rate, in micros
    roas = campaigns.target_roas_scaled[k]
    raw = np.rint(value.astype(np.float64) * ROAS_SCALE / roas * multiplier).astype(np.int64)
    bid = raw if policy.max_bid_micros is None else np.minimum(raw, policy.max_bid_micros)
    with np.errstate(divide="ignore"):
        predicted_roas = np.where(bid > 0, value * ROAS_SCALE // np.maximum(bid, 1), -1)

    # 3. governance: the policy's rules on columns, then budget per campaign for the bids it allows
    # per distinct campaign, then spread to the requests (no Python loop over the batch)
    platform = np.asarray([p or "google_ads" for p in campaigns.platform])[k]
    check = governance.actions_check_columns(
        kind="bid", platform=platform, amount_micros=bid, predicted_roas_scaled=predicted_roas, at=now,
        actor=actor, policy=policy,
    )  # fmt: skip
    own = np.zeros(n, dtype=np.int8)  # the bidder's own reason, index into _OWN (0: none); first wins
    for code, mask in (
        (BidReason.UNKNOWN_CAMPAIGN, ~campaigns.found[k]),
        (BidReason.CAMPAIGN_NOT_ACTIVE, ~campaigns.active[k]),
        (BidReason.UNKNOWN_CUSTOMER, unknown_customer),
        (BidReason.PACED_OUT, multiplier == 0),
        (BidReason.NO_VALUE, bid <= 0),
    ):
        own[(own == 0) & mask] = _OWN.index(code)
    allowed = check.allowed & (own == 0)
    reservations, over = governance.budget_reserve_grouped(
        groups=k, platforms=[campaigns.platform[j] for j in range(len(distinct))],
        campaigns=list(campaigns.key), amounts=bid, mask=allowed, at=now, actor=actor, policy=policy, hold=not check.dry_run,
    )  # fmt: skip
    approvals = check.needs_approval & (own == 0)
    if approvals.any():
        governance.approvals_queue_columns(
            indexes=np.flatnonzero(approvals), kind="bid", platform=platform,
            campaigns=np.asarray(campaigns.key)[k].tolist(), amount_micros=bid, at=now, actor=actor, policy=policy,
        )  # fmt: skip

    # 4. decisions and reasons
    table, outcome_index = _outcomes(check, own, over)
    idx = outcome_index.tolist()
    decision, reasons = tuple(table[i][0] for i in idx), tuple(table[i][1] for i in idx)
    granted = [reservations.get(g, "") for g in range(len(distinct))]
    reservation_ids = tuple(
        granted[g] if d == BidDecision.Decision.ALLOW else ""
        for g, d in zip(k.tolist(), decision, strict=True)
    )
    batch = BidBatch(
        campaign_ids=campaign_ids,
        customer_ids=customer_ids,
        ltv_micros=mid,
        ltv_low_micros=low,
        ltv_high_micros=high,
        ltv_source=tuple(_SOURCES[s] for s in source.tolist()),
        ltv_model_version=tuple(versions),
        pacing_multiplier=multiplier,
        bid_micros=bid,
        decision=decision,
        reasons=reasons,
        reservation_id=reservation_ids,
        policy_version=check.policy_version,
        dry_run=check.dry_run,
        decided_at=now,
        outcome_table=table,
        outcome_index=outcome_index,
    )
    # Recorded by the worker (one COPY per batch), off this path; a request naming no campaign of this
    # workspace has no row.
    decisions_enqueue(batch, campaigns.found[k], request_id=request_id_var.get() or "")
    return batch


_OWN: tuple[str, ...] = (
    "",
    BidReason.UNKNOWN_CAMPAIGN,
    BidReason.CAMPAIGN_NOT_ACTIVE,
    BidReason.UNKNOWN_CUSTOMER,
    BidReason.PACED_OUT,
    BidReason.NO_VALUE,
)


def _outcomes(
    check: Any, own: NDArray[np.int8], over: NDArray[np.bool_]
) -> tuple[tuple[tuple[str, tuple[Mapping[str, str], ...]], ...], NDArray[np.int32]]:
    """Decision and reasons per request; equal (policy bits, own reason, over budget) share one tuple."""
    key = (check.bits.astype(np.int64) << 8) | (own.astype(np.int64) << 1) | over.astype(np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    table: list[tuple[str, tuple[Mapping[str, str], ...]]] = []
    for value in uniq.tolist():
        bits, own_i, is_over = value >> 8, (value >> 1) & 0x7F, value & 1
        result = check.result(bits)
        reasons = [r.as_dict() for r in result.reasons]
        decision = str(result.decision)
        if own_i:
            code = _OWN[own_i]
            reasons.insert(0, {"code": code, "message": _BID_REASON_TEXT[code]})
            decision = BidDecision.Decision.DENY
        elif is_over:
            reasons.append(governance.over_budget_reason(check))
            decision = BidDecision.Decision.DENY
        table.append((decision, tuple(reasons)))
    return tuple(table), inverse.astype(np.int32)
