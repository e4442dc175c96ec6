"""The inventory circuit breaker: a campaign stops advertising a product that cannot be sold, and
starts again, at its earlier bid and budget, once it can.

Stores calls the breaker after every committed stock transition of a variant (``on_inventory_transition``,
registered in ``BiddingConfig.ready``), in the tenant's schema, inside the webhook drain task or the
sync that wrote it. The breaker reads the product's stock as it stands *now* (a product is in stock
while any of its non-deleted variants is), not the transition's direction, so transitions processed
late, twice or out of order still end in the right state.

**Out of stock.** Every campaign promoting the product (``CampaignProduct``) that is live (active, or
paused by the breaker with a resume still on its way) and holds no open hold gets, in one transaction
with its row locked: governance's authorisation of a pause (the single door; its rules allow a pause
even under the kill switch, in blackout hours or on a platform no longer allowed: it only lowers
spend), an ``InventoryHold`` recording its bid, daily budget and the inventory event, the pause queued
through the outbox with the key ``inventory:{event}:{campaign}:pause`` (created after the hold, so
the pause is attributed to the breaker), and the audit entry ``inventory.hold``. Campaigns paused by a
person or by other automation, and removed ones, get no hold and are not touched.

**Back in stock.** Each campaign promoting the product with an open hold is looked at, row locked:

- another product it promotes is still out of stock → the hold is kept (its note names what it waits for);
- a person paused it, resumed it or changed its bid or budget since the hold (a change requested by a
  user or an API key), or it was removed → the hold is ``abandoned`` with a note; nothing is resumed
  or restored (``inventory.abandon``);
- otherwise governance authorises the restore (budget change, bid, resume, as one batch: the kill
  switch, blackout hours or an approval threshold may refuse it). Refused → the hold is kept with the
  reasons in its note (``inventory.release_refused``; the hourly review tries again). Allowed → the
  daily budget and the bid are set back to the recorded values where the campaign differs now, then it
  is resumed (keys ``inventory:{event}:{campaign}:{hold}:budget|bid|resume``: a hold is released once,
  even when an old event is replayed against a newer hold), and the hold is ``released``
  (``inventory.release``).

Dry run changes nothing here: holds, decisions and outbox rows are written, and the outbox marks each
change ``dry_run`` instead of sending it. After each step the workspace's Admins get one e-mail per
call (Django's e-mail backend), sent after the commit; a mail that fails is logged and changes nothing.

Idempotent: a hold exists at most once per campaign (a constraint), every decision is taken under the
campaign's lock from the current state, and the outbox keys derive from the event, so the same webhook
twice, or the same transition replayed, changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.bidding.models import Campaign, CampaignProduct, InventoryHold, PlatformChange
from apps.bidding.services.platforms import campaign_change_request
from apps.core.actor import Actor, require_actor
from apps.core.money import has_whole_cents, micros_to_decimal, to_cents
from apps.core.tenant_context import require_tenant
from apps.governance import selectors as governance_selectors
from apps.governance import services as governance
from apps.stores import selectors as stores

logger = logging.getLogger(__name__)

BREAKER = Actor.system("celery:bidding.inventory_breaker")
Kind = PlatformChange.Kind
HoldState = InventoryHold.State
_PERSON_LABELS = ("user:", "api_key:")  # ``PlatformChange.requested_by`` of a person (``Actor.label``)
MAX_NOTE = 300


@dataclass(frozen=True)
class BreakerOutcome:
    """What one call did, as campaign ids: ``held`` (paused, a hold made), ``released`` (resumed at
    their earlier values), ``abandoned`` (a person paused or changed them: left as they are),
    ``waiting`` (back in stock, but another promoted product is still out) and ``refused`` (governance
    refused the pause or the restore)."""

    held: tuple[int, ...] = ()
    released: tuple[int, ...] = ()
    abandoned: tuple[int, ...] = ()
    waiting: tuple[int, ...] = ()
    refused: tuple[int, ...] = ()

    @property
    def summary(self) -> str:
        parts = {k: len(v) for k, v in vars(self).items() if v}
        return ", ".join(f"{k} {n}" for k, n in parts.items()) or "nothing to do"


@dataclass(frozen=True)
class _Notice:
    action: str  # hold, release, abandon, release_refused, hold_refused
    campaign: str
    text: str


@dataclass
class _Run:
    """What a call collects across its per-campaign transactions."""

    dry_run: bool | None = None
    held: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    notices: list[_Notice] = field(default_factory=list)

    def outcome(self) -> BreakerOutcome:
        return BreakerOutcome(
            tuple(self.held),
            tuple(self.released),
            tuple(self.abandoned),
            tuple(self.waiting),
            tuple(self.refused),
        )


# --- the entry points ------------------------------------------------------------------------------------
def inventory_breaker_apply(
    *, store_id: int, product_platform_id: str, event_id: int | None, actor: Actor = BREAKER
) -> BreakerOutcome:
    """Bring the campaigns promoting this product in line with its stock now (module docstring):
    hold and pause them when it has none, release or abandon their holds when it is back.
    ``event_id`` is the ``stores.InventoryEvent`` that prompted the call (it keys the outbox changes)."""
    require_tenant("the inventory breaker")
    _check_actor(actor)
    promoting = list(
        CampaignProduct.objects.filter(store_id=store_id, product_platform_id=product_platform_id)
        .exclude(campaign__status=Campaign.Status.REMOVED)
        .order_by("campaign_id")
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    if not promoting:
        return BreakerOutcome()
    run = _Run()
    product = (int(store_id), str(product_platform_id))
    if stores.product_in_stock(store_id=store_id, product_platform_id=product_platform_id):
        # Every promoting campaign is locked in turn, not only those seen held now: a hold that a
        # stock-out evaluated just before this restock is committing is then seen (it held the lock).
        for campaign_id in promoting:
            _release_one(campaign_id, event_id=event_id, actor=actor, run=run)
    else:
        if event_id is None:
            raise ValueError("a stock-out is acted on for an inventory event: event_id is required")
        for campaign_id in promoting:
            _hold_one(campaign_id, product=product, event_id=event_id, actor=actor, run=run)
    _notify_after_commit(run)
    return run.outcome()


def inventory_holds_review(*, actor: Actor = BREAKER) -> BreakerOutcome:
    """Look at every open hold again (beat, hourly): release or abandon those whose products are all
    back in stock. The safety net for a restock whose hook failed and for a restore governance refused
    earlier (kill switch, blackout hours, pending approval)."""
    require_tenant("the inventory breaker")
    _check_actor(actor)
    run = _Run()
    holds = InventoryHold.objects.filter(state=HoldState.HELD).order_by("campaign_id")
    for campaign_id in holds.values_list("campaign_id", flat=True):
        _release_one(campaign_id, event_id=None, actor=actor, run=run)
    _notify_after_commit(run)
    return run.outcome()


def _check_actor(actor: Actor) -> None:
    require_actor(actor)


def _live(campaign: Campaign) -> bool:
    """Live for the breaker: active, or paused by the breaker with no open hold (its resume queued)."""
    return campaign.status == Campaign.Status.ACTIVE or (
        campaign.status == Campaign.Status.PAUSED and campaign.paused_by == Campaign.PausedBy.INVENTORY
    )


def _locked(campaign_id: int) -> Campaign | None:
    return (
        Campaign.objects.select_for_update(of=("self",))
        .select_related("account")
        .filter(pk=campaign_id)
        .first()
    )


def _money(micros: int | None) -> str:
    """Micros as a person reads them: 10.00, 1.234567."""
    if micros is None:
        return "—"
    exact = micros_to_decimal(micros)
    return f"{to_cents(exact) if has_whole_cents(exact) else exact.normalize():f}"


def _hold_state(hold: InventoryHold) -> dict[str, Any]:
    return {
        "campaign_id": hold.campaign_id,
        "store_id": hold.store_id,
        "product_platform_id": hold.product_platform_id,
        "state": hold.state,
        "previous_bid_micros": hold.previous_bid_micros,
        "previous_daily_budget_micros": hold.previous_daily_budget_micros,
        "inventory_event_id": hold.inventory_event_id,
        "note": hold.note,
    }


def _audit_hold(
    hold: InventoryHold, action: str, actor: Actor, *, before: dict[str, Any] | None = None, **extra: Any
) -> None:
    """The audit entry of what the breaker did to ``hold``: its state after, and ``extra``."""
    governance.audit_record(
        actor=actor,
        action=action,
        object_type="bidding.inventoryhold",
        object_id=hold.pk,
        before=before,
        after={**_hold_state(hold), **extra},
    )


def _label(campaign: Campaign) -> str:
    return f"{campaign.name} ({campaign.account.get_platform_display()} {campaign.external_id})"


# --- out of stock ---------------------------------------------------------------------------------------
def _hold_one(campaign_id: int, *, product: tuple[int, str], event_id: int, actor: Actor, run: _Run) -> None:
    store_id, product_platform_id = product
    key = f"inventory:{event_id}:{campaign_id}:pause"
    with transaction.atomic():
        campaign = _locked(campaign_id)
        if campaign is None or not _live(campaign):
            return  # paused by a person or by other automation, or removed: not touched
        if InventoryHold.objects.filter(campaign=campaign, state=HoldState.HELD).exists():
            return  # already held (another product, or dry run where the campaign stays active)
        if PlatformChange.objects.filter(key=key).exists():
            return  # this event already paused it (a replay after the hold was released)
        if stores.product_in_stock(store_id=store_id, product_platform_id=product_platform_id):
            return  # back in stock meanwhile
        action = governance.ProposedAction(
            kind=governance.ActionKind.PAUSE, platform=campaign.account.platform, campaign=str(campaign.pk)
        )
        decision = governance.action_authorize(action=action, actor=actor, reserve=False)
        run.dry_run = decision.dry_run
        if not decision.allowed:
            # The rules allow every pause today; a rule that refuses one is obeyed and recorded.
            governance.audit_record(
                actor=actor,
                action="inventory.hold_refused",
                object_type="bidding.campaign",
                object_id=campaign.pk,
                after={
                    "store_id": store_id,
                    "product_platform_id": product_platform_id,
                    "inventory_event_id": event_id,
                    "decision": decision.as_dict(),
                },
            )
            run.refused.append(campaign.pk)
            run.notices.append(_Notice("hold_refused", _label(campaign), _reasons_text(decision.reasons)))
            return
        hold = InventoryHold.objects.create(
            campaign=campaign,
            store_id=store_id,
            product_platform_id=product_platform_id,
            state=HoldState.HELD,
            previous_bid_micros=campaign.bid_micros,
            previous_daily_budget_micros=campaign.daily_budget_micros,
            inventory_event_id=event_id,
            held_at=timezone.now(),
            note=f"Out of stock: product {product_platform_id} of store {store_id} (event {event_id})."[
                :MAX_NOTE
            ],
        )
        change = campaign_change_request(
            campaign=campaign,
            kind=Kind.PAUSE,
            reason=f"Inventory breaker: product {product_platform_id} of store {store_id} is out of stock.",
            actor=actor,
            key=key,
        )
        _audit_hold(hold, "inventory.hold", actor, pause_change_id=change.pk, decision=decision.as_dict())
    run.held.append(campaign.pk)
    run.notices.append(
        _Notice(
            "hold",
            _label(campaign),
            f"paused: product {product_platform_id} (store {store_id}) is out of stock. Recorded: daily "
            f"budget {_money(hold.previous_daily_budget_micros)}, bid {_money(hold.previous_bid_micros)} "
            f"{campaign.account.currency}.",
        )
    )


# --- back in stock --------------------------------------------------------------------------------------
def _person_changes(campaign: Campaign, hold: InventoryHold) -> list[str]:
    """The kinds of changes a person (a user or an API key) requested since the hold began. Setting
    the budget or bid back to the value the hold recorded does not count: that is the restore itself
    (e.g. a person approving the breaker's own budget change above the approval threshold)."""
    by_person = Q()
    for prefix in _PERSON_LABELS:
        by_person |= Q(requested_by__startswith=prefix)
    recorded = {Kind.SET_BUDGET: hold.previous_daily_budget_micros, Kind.SET_BID: hold.previous_bid_micros}
    rows = (
        PlatformChange.objects.filter(campaign=campaign, created_at__gte=hold.held_at)
        .filter(by_person)
        .order_by("pk")
        .values_list("kind", "value_micros")
    )
    return [kind for kind, value in rows if kind not in recorded or value != recorded[Kind(kind)]]


def _why_abandon(campaign: Campaign, hold: InventoryHold) -> str | None:
    if campaign.status == Campaign.Status.REMOVED:
        return "the campaign was removed"
    if campaign.paused_by_person:
        return f"a person paused it ({campaign.paused_by_actor or 'unknown'})"
    changed = _person_changes(campaign, hold)
    if changed:
        return f"a person changed it meanwhile ({', '.join(sorted(set(changed)))})"
    return None


def _release_one(campaign_id: int, *, event_id: int | None, actor: Actor, run: _Run) -> None:
    with transaction.atomic():
        campaign = _locked(campaign_id)
        if campaign is None:
            return
        hold = (
            InventoryHold.objects.select_for_update().filter(campaign=campaign, state=HoldState.HELD).first()
        )
        if hold is None:
            return
        ref = "review" if event_id is None else str(int(event_id))
        promoted = set(
            CampaignProduct.objects.filter(campaign=campaign).values_list("store_id", "product_platform_id")
        )
        still_out = sorted(stores.products_without_stock(products=promoted))
        if still_out:
            note = f"Waiting for stock of {', '.join(f'{p} (store {s})' for s, p in still_out)}."[:MAX_NOTE]
            if hold.note != note:
                hold.note = note
                hold.save(update_fields=["note"])
            run.waiting.append(campaign.pk)
            return
        before = _hold_state(hold)
        why = _why_abandon(campaign, hold)
        if why is not None:
            hold.state, hold.released_at = HoldState.ABANDONED, timezone.now()
            hold.note = f"Back in stock; not resumed: {why}."[:MAX_NOTE]
            hold.save(update_fields=["state", "released_at", "note"])
            _audit_hold(hold, "inventory.abandon", actor, before=before, event=ref)
            run.abandoned.append(campaign.pk)
            run.notices.append(
                _Notice("abandon", _label(campaign), f"back in stock but left as it is: {why}.")
            )
            return
        _restore(campaign, hold, ref=ref, actor=actor, run=run, before=before)


def _restore(
    campaign: Campaign, hold: InventoryHold, *, ref: str, actor: Actor, run: _Run, before: dict[str, Any]
) -> None:
    """Authorise and request budget, bid and resume; release the hold (or keep it, refused)."""
    platform, key = campaign.account.platform, str(campaign.pk)

    def proposed(kind: governance.ActionKind, amount: int | None = None) -> governance.ProposedAction:
        return governance.ProposedAction(
            kind=kind,
            platform=platform,
            campaign=key,
            amount_micros=amount,
            paused_by_person=campaign.paused_by_person,
        )

    steps: list[tuple[Kind, int | None, governance.ProposedAction]] = []
    budget, bid = hold.previous_daily_budget_micros, hold.previous_bid_micros
    if budget > 0 and campaign.daily_budget_micros != budget:
        steps.append((Kind.SET_BUDGET, budget, proposed(governance.ActionKind.BUDGET_CHANGE, budget)))
    if bid is not None and bid > 0 and campaign.bid_micros != bid:
        steps.append((Kind.SET_BID, bid, proposed(governance.ActionKind.BID, bid)))
    steps.append((Kind.RESUME, None, proposed(governance.ActionKind.RESUME)))
    decisions = governance.actions_authorize(actions=[a for _, _, a in steps], actor=actor, reserve=False)
    run.dry_run = decisions[0].dry_run
    refused = [(kind, d) for (kind, _, _), d in zip(steps, decisions, strict=True) if not d.allowed]
    if refused:
        marker = f"Resume refused on {ref}:"
        if hold.note.startswith(marker):
            run.refused.append(campaign.pk)  # already recorded for this event
            return
        reasons = sorted({r.code for _, d in refused for r in d.reasons})
        approvals = sorted({d.approval_id for _, d in refused if d.approval_id is not None})
        hold.note = (
            f"{marker} {', '.join(reasons)} (policy v{decisions[0].policy_version})"
            + (f"; approval {', '.join(map(str, approvals))} pending" if approvals else "")
            + "."
        )[:MAX_NOTE]
        hold.save(update_fields=["note"])
        _audit_hold(
            hold,
            "inventory.release_refused",
            actor,
            before=before,
            event=ref,
            decisions={str(kind): d.as_dict() for kind, d in refused},
        )
        run.refused.append(campaign.pk)
        text = "; ".join(f"{kind}: {_reasons_text(d.reasons)}" for kind, d in refused)
        run.notices.append(
            _Notice("release_refused", _label(campaign), f"back in stock, still paused: {text}")
        )
        return
    suffix = {Kind.SET_BUDGET: "budget", Kind.SET_BID: "bid", Kind.RESUME: "resume"}
    changes = {}
    for kind, value, _ in steps:
        change = campaign_change_request(
            campaign=campaign,
            kind=kind,
            value_micros=value,
            reason=f"Inventory breaker: product {hold.product_platform_id} of store {hold.store_id} is back in stock.",
            actor=actor,
            key=f"inventory:{ref}:{campaign.pk}:{hold.pk}:{suffix[kind]}",
        )
        changes[str(kind)] = change.pk
    hold.state, hold.released_at = HoldState.RELEASED, timezone.now()
    restored = [
        f"{'budget' if k == Kind.SET_BUDGET else 'bid'} {_money(v)}" for k, v, _ in steps if v is not None
    ]
    hold.note = (
        f"Back in stock ({'event ' + ref if ref.isdigit() else ref}); resumed"
        + (f", {' and '.join(restored)} restored" if restored else "")
        + "."
    )[:MAX_NOTE]
    hold.save(update_fields=["state", "released_at", "note"])
    _audit_hold(
        hold,
        "inventory.release",
        actor,
        before=before,
        event=ref,
        change_ids=changes,
        decisions=[d.as_dict() for d in decisions],
    )
    run.released.append(campaign.pk)
    run.notices.append(
        _Notice(
            "release",
            _label(campaign),
            "back in stock: resumed"
            + (f", {' and '.join(restored)} {campaign.account.currency} restored" if restored else "")
            + ".",
        )
    )


def _reasons_text(reasons: Iterable[governance.Reason]) -> str:
    return " ".join(r.message or r.code for r in reasons) or "refused"


# --- telling the Admins ---------------------------------------------------------------------------------
_SUBJECT = {
    "hold": "paused (out of stock)",
    "release": "resumed (back in stock)",
    "abandon": "not resumed (a person paused or changed it)",
    "release_refused": "still paused (the policy refused the resume)",
    "hold_refused": "not paused (the policy refused the pause)",
}


def _notify_after_commit(run: _Run) -> None:
    if not run.notices:
        return
    schema = require_tenant("notifying Admins")
    notices, dry_run = list(run.notices), bool(run.dry_run)
    transaction.on_commit(lambda: _send(schema, notices, dry_run))


def _send(schema: str, notices: list[_Notice], dry_run: bool) -> None:
    """One e-mail to the workspace's Admins for one call of the breaker; never raises."""
    try:
        recipients = governance_selectors.admin_emails()
        if not recipients:
            return
        counts: dict[str, int] = {}
        for n in notices:
            counts[n.action] = counts.get(n.action, 0) + 1
        subject = "KIKI inventory breaker: " + "; ".join(
            f"{count} campaign{'s' if count > 1 else ''} {_SUBJECT[action]}"
            for action, count in counts.items()
        )
        lines = [f"- {n.campaign}: {n.text}" for n in notices]
        if dry_run:
            lines.append("")
            lines.append(
                "The workspace is in dry run: this was recorded, and nothing was sent to the ad platforms."
            )
        lines += ["", f"Workspace {schema}. Inventory holds are listed in the admin under Bidding."]
        send_mail(subject[:200], "\n".join(lines), settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.exception("inventory breaker: the Admins' e-mail could not be sent", extra={"schema": schema})
