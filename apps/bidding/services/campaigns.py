"""Ad accounts and campaigns as people manage them: RevOps in the admin, integrators through the API.

- Accounts: ``ad_account_connect`` records an advertiser account with its credentials (JSON,
  encrypted at rest; never returned, logged or audited: an audit entry names the keys that were set,
  never their values); ``ad_account_set_credentials`` rotates them.
- Campaigns: ``campaign_register`` records a platform campaign KIKI manages (daily budget, bid
  strategy, promoted products: the inventory breaker's keys); ``campaign_set_products`` replaces its
  products.
- A person's actions: ``campaign_pause``, ``campaign_resume``, ``campaign_set_bid``,
  ``campaign_set_budget``. Each goes through governance's single door (``action_authorize``) first:

  ============== ===========================================================================
  allow          a change queued in the outbox (``campaign_change_request``); dry run and the
                 account's breaker are decided when the task sends it; who paused follows the
                 actor (a user or an API key: a person)
  needs_approval governance's ``ApprovalRequest``, and no change; once a person approves it,
                 ``campaign_change_from_approval`` (the ``approval_decided`` receiver) queues it
  deny           ``BiddingError`` ``policy_denied`` (403) with the policy's reasons; nothing stored
  ============== ===========================================================================

Each ``*_check`` validates and writes nothing, so the admin's forms refuse what the API refuses
before anything is saved; the writing service runs the check again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from apps.bidding.errors import BiddingError, ErrorCode
from apps.bidding.models import AdPlatformAccount, Campaign, CampaignProduct, Platform, PlatformChange
from apps.bidding.services.platforms import MAX_REASON, MAX_VALUE_MICROS, campaign_change_request
from apps.core.actor import Actor, require_actor
from apps.core.tenant_context import require_tenant
from apps.governance import services as governance
from apps.stores import selectors as stores_selectors

POLICY_DENIED = "policy_denied"
MAX_NAME = 200
MAX_CREDENTIAL = 4096
MAX_PRODUCTS = 500
MAX_PRODUCT_ID = 100
MAX_STORE_ID = 2**63 - 1
MAX_ROAS = Decimal("9999.9999")  # Campaign.target_roas: 8 digits, 4 decimal places
ROAS_PLACES = Decimal("0.0001")

# Which credentials each platform's adapter reads: (required, optional). Nothing else is stored.
CREDENTIAL_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    Platform.GOOGLE_ADS.value: (("access_token", "developer_token"), ("login_customer_id",)),
    Platform.META.value: (("access_token",), ()),
    Platform.TIKTOK.value: (("access_token",), ()),
    Platform.LINKEDIN.value: (("access_token",), ()),
}
# Tokens travel in HTTP headers: visible ASCII only, no spaces or line breaks.
_TOKEN = re.compile(r"[\x21-\x7e]{8,4096}")
_GOOGLE_CUSTOMER_ID = re.compile(r"[0-9]{3}-?[0-9]{3}-?[0-9]{4}")
# The account ids each adapter accepts (as the platform writes them).
ACCOUNT_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    Platform.GOOGLE_ADS.value: _GOOGLE_CUSTOMER_ID,
    Platform.META.value: re.compile(r"(?:act_)?[0-9]{1,30}"),
    Platform.TIKTOK.value: re.compile(r"[0-9]{1,30}"),
    Platform.LINKEDIN.value: re.compile(r"(?:urn:li:sponsoredAccount:)?[0-9]{1,30}"),
}
ACCOUNT_ID_HELP = {
    Platform.GOOGLE_ADS.value: "a Google Ads customer id, 123-456-7890 or 1234567890",
    Platform.META.value: "a Meta ad account id, act_123 or 123",
    Platform.TIKTOK.value: "a TikTok advertiser id (digits)",
    Platform.LINKEDIN.value: "a LinkedIn ad account id, urn:li:sponsoredAccount:123 or 123",
}
CAMPAIGN_ID = re.compile(r"[0-9]{1,30}")  # every platform's campaign ids are digits
_CURRENCY = re.compile(r"[A-Z]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Kind = PlatformChange.Kind
# A person's action on a campaign → the governance action it is checked as.
_ACTION_KIND = {
    Kind.PAUSE: governance.ActionKind.PAUSE,
    Kind.RESUME: governance.ActionKind.RESUME,
    Kind.SET_BID: governance.ActionKind.BID,
    Kind.SET_BUDGET: governance.ActionKind.BUDGET_CHANGE,
}
# An approved governance action that is a campaign setting → the change that carries it out.
_APPROVED_CHANGE = {
    governance.ActionKind.BID: Kind.SET_BID,
    governance.ActionKind.BUDGET_CHANGE: Kind.SET_BUDGET,
}


class _Errors:
    """Field errors collected over a whole input, raised together (400 naming each field)."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.details.setdefault(field, []).append(message)

    def raise_if_any(self, message: str) -> None:
        if self.details:
            raise BiddingError(ErrorCode.VALIDATION, message, details=self.details)


def _actor(actor: Actor) -> None:
    require_actor(actor)


def _text(errors: _Errors, field: str, value: Any, *, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        errors.add(field, "Required: a non-empty string.")
        return ""
    value = value.strip()
    if len(value) > max_length:
        errors.add(field, f"At most {max_length} characters.")
    elif _CONTROL.search(value):
        errors.add(field, "Control characters are not allowed.")
    return value


def _micros(errors: _Errors, field: str, value: Any, *, required: bool) -> int | None:
    if value is None:
        if required:
            errors.add(field, "Required: a whole number of micros.")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VALUE_MICROS:
        errors.add(field, f"A whole number of micros from 1 to {MAX_VALUE_MICROS}.")
        return None
    return value


def _reason(reason: Any) -> str:
    errors = _Errors()
    text = _text(errors, "reason", reason, max_length=MAX_REASON)
    errors.raise_if_any("Say why (a reason of at most 300 characters).")
    return text


# --- accounts -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountInput:
    """An account's fields as ``ad_account_connect_check`` normalised them."""

    platform: str
    external_id: str
    name: str
    currency: str
    credentials: Mapping[str, str]

    def __repr__(self) -> str:  # never the credentials
        return f"AccountInput({self.platform}:{self.external_id}, keys={sorted(self.credentials)})"


def _credentials(errors: _Errors, platform: str, credentials: Any) -> dict[str, str]:
    """The credentials an adapter of ``platform`` reads, checked; messages never echo a value."""
    if not isinstance(credentials, Mapping):
        errors.add("credentials", "An object of credential names to values.")
        return {}
    required, optional = CREDENTIAL_KEYS.get(platform, (("access_token",), ()))
    out: dict[str, str] = {}
    unknown = sorted(str(k) for k in credentials if k not in (*required, *optional))
    if unknown:
        allowed = ", ".join((*required, *optional))
        errors.add(
            "credentials", f"Unknown credential(s) {', '.join(unknown)[:200]}; this platform takes {allowed}."
        )
    for name in required:
        if not credentials.get(name):
            errors.add(f"credentials.{name}", "Required for this platform.")
    for name in (*required, *optional):
        value = credentials.get(name)
        if value is None or value == "":
            continue
        if name == "login_customer_id":
            if not isinstance(value, str) or not _GOOGLE_CUSTOMER_ID.fullmatch(value):
                errors.add(f"credentials.{name}", "A Google Ads manager customer id, 123-456-7890.")
                continue
        elif not isinstance(value, str) or not _TOKEN.fullmatch(value):
            errors.add(
                f"credentials.{name}",
                f"8 to {MAX_CREDENTIAL} visible ASCII characters (no spaces or line breaks).",
            )
            continue
        out[name] = value
    return out


def ad_account_connect_check(
    *, platform: str, external_id: str, name: str, currency: str, credentials: Mapping[str, str]
) -> AccountInput:
    """The account's fields normalised, or a 400 naming each bad field (409 when it exists). Writes
    nothing."""
    require_tenant("connecting an ad account")
    errors = _Errors()
    if platform not in CREDENTIAL_KEYS:
        errors.add("platform", f"One of {', '.join(CREDENTIAL_KEYS)}.")
    ext = _text(errors, "external_id", external_id, max_length=64)
    if ext and platform in ACCOUNT_ID_PATTERNS and not ACCOUNT_ID_PATTERNS[platform].fullmatch(ext):
        errors.add("external_id", f"Not {ACCOUNT_ID_HELP[platform]}.")
    label = _text(errors, "name", name, max_length=MAX_NAME)
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if not _CURRENCY.fullmatch(code):
        errors.add("currency", "An ISO 4217 code, e.g. USD.")
    creds = _credentials(errors, platform, credentials)
    errors.raise_if_any("The ad account has invalid fields.")
    if AdPlatformAccount.objects.filter(platform=platform, external_id=ext).exists():
        raise BiddingError(
            ErrorCode.CONFLICT,
            f"This workspace already has the {platform} account {ext}.",
            details={"external_id": ["Already connected."]},
        )
    return AccountInput(platform, ext, label, code, creds)


def _account_state(account: AdPlatformAccount, credential_keys: Sequence[str]) -> dict[str, Any]:
    return {
        "platform": account.platform,
        "external_id": account.external_id,
        "name": account.name,
        "currency": account.currency,
        "status": account.status,
        "credential_keys": sorted(credential_keys),  # names only, never values
    }


def credential_keys(account: AdPlatformAccount) -> list[str]:
    """The names of the credentials an account holds (never their values); [] when unreadable."""
    try:
        stored = json.loads(account.credentials or "{}")
    except ValueError:
        return []
    return sorted(str(k) for k in stored) if isinstance(stored, dict) else []


@transaction.atomic
def ad_account_connect(
    *,
    platform: str,
    external_id: str,
    name: str,
    currency: str,
    credentials: Mapping[str, str],
    actor: Actor,
) -> AdPlatformAccount:
    """Record an advertiser account with its credentials (encrypted at rest), audited without them.
    Nothing is sent to the platform here: the first change or spend fetch uses the credentials."""
    _actor(actor)
    data = ad_account_connect_check(
        platform=platform, external_id=external_id, name=name, currency=currency, credentials=credentials
    )
    account = AdPlatformAccount.objects.create(
        platform=data.platform,
        external_id=data.external_id,
        name=data.name,
        currency=data.currency,
        credentials=json.dumps(dict(data.credentials), sort_keys=True),
    )
    governance.audit_record(
        actor=actor,
        action="ad_account.connect",
        object_type="bidding.adplatformaccount",
        object_id=account.pk,
        after={**_account_state(account, list(data.credentials)), "credentials": "set"},
    )
    return account


def ad_account_set_credentials_check(
    *, account: AdPlatformAccount, credentials: Mapping[str, str]
) -> dict[str, str]:
    """The new credentials checked for the account's platform, or a 400. Writes nothing."""
    require_tenant("rotating ad account credentials")
    errors = _Errors()
    creds = _credentials(errors, account.platform, credentials)
    errors.raise_if_any("The credentials are invalid.")
    return creds


@transaction.atomic
def ad_account_set_credentials(
    *, account: AdPlatformAccount, credentials: Mapping[str, str], actor: Actor
) -> AdPlatformAccount:
    """Replace the account's credentials (rotation): all of them at once, audited without their values.
    An account in error or disconnected is active again (the new credentials are what it lacked)."""
    _actor(actor)
    creds = ad_account_set_credentials_check(account=account, credentials=credentials)
    locked = AdPlatformAccount.objects.select_for_update().get(pk=account.pk)
    before = _account_state(locked, credential_keys(locked))
    locked.credentials = json.dumps(creds, sort_keys=True)
    locked.credentials_expire_at = None
    locked.status, locked.last_error = AdPlatformAccount.Status.ACTIVE, ""
    locked.save(update_fields=["credentials", "credentials_expire_at", "status", "last_error", "updated_at"])
    governance.audit_record(
        actor=actor,
        action="ad_account.rotate_credentials",
        object_type="bidding.adplatformaccount",
        object_id=locked.pk,
        before=before,
        after={**_account_state(locked, list(creds)), "credentials": "rotated"},
    )
    return locked


# --- campaigns ------------------------------------------------------------------------------------
ProductRef = tuple[int, str]


@dataclass(frozen=True)
class CampaignInput:
    """A campaign's fields as ``campaign_register_check`` normalised them."""

    account: AdPlatformAccount
    external_id: str
    name: str
    daily_budget_micros: int
    bid_strategy: str
    bid_micros: int | None
    target_roas: Decimal | None
    promoted_products: tuple[ProductRef, ...]


def _products(errors: _Errors, value: Any) -> tuple[ProductRef, ...]:
    field = "promoted_products"
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        errors.add(field, "A list of [store id, product id] pairs.")
        return ()
    if len(value) > MAX_PRODUCTS:
        errors.add(field, f"At most {MAX_PRODUCTS} products.")
        return ()
    out: list[ProductRef] = []
    for i, item in enumerate(value):
        where = f"{field}.{i}"
        if isinstance(item, str | bytes) or not isinstance(item, Sequence) or len(item) != 2:
            errors.add(where, "A [store id, product id] pair.")
            continue
        store_id, product_id = item
        if isinstance(store_id, bool) or not isinstance(store_id, int) or not 1 <= store_id <= MAX_STORE_ID:
            errors.add(where, "The store id is a whole number from 1.")
            continue
        product = _text(errors, where, product_id, max_length=MAX_PRODUCT_ID)
        if product:
            out.append((store_id, product))
    if len(set(out)) != len(out):
        errors.add(field, "A product is listed twice.")
    stores = {s for s, _ in out}
    missing = sorted(stores - stores_selectors.existing_store_ids(store_ids=stores)) if stores else []
    if missing:
        errors.add(field, f"No store {', '.join(map(str, missing[:20]))} in this workspace.")
    return tuple(sorted(set(out)))


def campaign_products_check(*, promoted_products: Sequence[ProductRef]) -> tuple[ProductRef, ...]:
    """The products checked (every store exists in this workspace), sorted, or a 400. Writes nothing."""
    require_tenant("checking promoted products")
    errors = _Errors()
    products = _products(errors, promoted_products)
    errors.raise_if_any("The promoted products are invalid.")
    return products


def _roas(errors: _Errors, value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        roas = (
            value if isinstance(value, Decimal) else Decimal(value) if isinstance(value, int | str) else None
        )
    except InvalidOperation:
        roas = None
    if isinstance(value, bool) or roas is None or not roas.is_finite() or not 0 < roas <= MAX_ROAS:
        errors.add("target_roas", f'A decimal above 0 and at most {MAX_ROAS} (e.g. "3.5": 350 %).')
        return None
    if roas != roas.quantize(ROAS_PLACES):
        errors.add("target_roas", "At most four decimal places.")
        return None
    return roas.quantize(ROAS_PLACES)


def campaign_register_check(
    *,
    account: AdPlatformAccount,
    external_id: str,
    name: str,
    daily_budget_micros: int,
    bid_strategy: str,
    bid_micros: int | None = None,
    target_roas: Decimal | None = None,
    promoted_products: Sequence[ProductRef] = (),
) -> CampaignInput:
    """The campaign's fields normalised, or a 400 naming each bad field (409: it is registered
    already, or its account is disconnected). Writes nothing."""
    require_tenant("registering a campaign")
    errors = _Errors()
    ext = _text(errors, "external_id", external_id, max_length=64)
    if ext and not CAMPAIGN_ID.fullmatch(ext):
        errors.add("external_id", "A campaign id on the platform: digits.")
    label = _text(errors, "name", name, max_length=MAX_NAME)
    budget = _micros(errors, "daily_budget_micros", daily_budget_micros, required=True)
    if bid_strategy not in Campaign.BidStrategy.values:
        errors.add("bid_strategy", f"One of {', '.join(Campaign.BidStrategy.values)}.")
    bid = _micros(errors, "bid_micros", bid_micros, required=bid_strategy == Campaign.BidStrategy.MANUAL)
    roas = _roas(errors, target_roas)
    if bid_strategy == Campaign.BidStrategy.TARGET_ROAS and target_roas is None:
        errors.add("target_roas", "Required for the target_roas strategy.")
    products = _products(errors, promoted_products)
    errors.raise_if_any("The campaign has invalid fields.")
    if account.status == AdPlatformAccount.Status.DISCONNECTED:
        raise BiddingError(
            ErrorCode.CONFLICT,
            f"Account {account.pk} is disconnected; reconnect it before registering campaigns.",
            details={"account": ["Disconnected."]},
        )
    if Campaign.objects.filter(account_id=account.pk, external_id=ext).exists():
        raise BiddingError(
            ErrorCode.CONFLICT,
            f"Campaign {ext} of this account is registered already.",
            details={"external_id": ["Already registered."]},
        )
    assert budget is not None  # noqa: S101 - required above
    return CampaignInput(account, ext, label, budget, bid_strategy, bid, roas, products)


def _product_list(products: Sequence[ProductRef]) -> list[list[Any]]:
    return [[s, p] for s, p in sorted(products)]


def campaign_state(campaign: Campaign) -> dict[str, Any]:
    """What the audit trail records of a campaign."""
    return {
        "name": campaign.name,
        "status": campaign.status,
        "paused_by": campaign.paused_by,
        "daily_budget_micros": campaign.daily_budget_micros,
        "bid_strategy": campaign.bid_strategy,
        "bid_micros": campaign.bid_micros,
        "target_roas": campaign.target_roas,
    }


@transaction.atomic
def campaign_register(
    *,
    account: AdPlatformAccount,
    external_id: str,
    name: str,
    daily_budget_micros: int,
    bid_strategy: str,
    bid_micros: int | None = None,
    target_roas: Decimal | None = None,
    promoted_products: Sequence[ProductRef] = (),
    actor: Actor,
) -> Campaign:
    """Record a campaign that exists on ``account``'s platform, with the products it promotes (each a
    ``(store id, product platform id)`` of a store of this workspace). Nothing is sent to the platform:
    the values are what it holds; changes go through the person actions below."""
    _actor(actor)
    data = campaign_register_check(
        account=account,
        external_id=external_id,
        name=name,
        daily_budget_micros=daily_budget_micros,
        bid_strategy=bid_strategy,
        bid_micros=bid_micros,
        target_roas=target_roas,
        promoted_products=promoted_products,
    )
    campaign = Campaign.objects.create(
        account=data.account,
        external_id=data.external_id,
        name=data.name,
        daily_budget_micros=data.daily_budget_micros,
        bid_strategy=data.bid_strategy,
        bid_micros=data.bid_micros,
        target_roas=data.target_roas,
    )
    CampaignProduct.objects.bulk_create(
        [
            CampaignProduct(campaign=campaign, store_id=s, product_platform_id=p)
            for s, p in data.promoted_products
        ]
    )
    governance.audit_record(
        actor=actor,
        action="campaign.register",
        object_type="bidding.campaign",
        object_id=campaign.pk,
        after={
            **campaign_state(campaign),
            "account_id": data.account.pk,
            "external_id": campaign.external_id,
            "promoted_products": _product_list(data.promoted_products),
        },
    )
    return campaign


@transaction.atomic
def campaign_set_products(
    *, campaign: Campaign, promoted_products: Sequence[ProductRef], actor: Actor
) -> Campaign:
    """Replace the products ``campaign`` promotes (the inventory breaker pauses it when one of them
    goes out of stock). The same set again changes nothing and records nothing."""
    _actor(actor)
    products = campaign_products_check(promoted_products=promoted_products)
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    current = set(locked.products.values_list("store_id", "product_platform_id"))
    wanted = set(products)
    if current == wanted:
        return locked
    gone = current - wanted
    for store_id, product_id in gone:
        locked.products.filter(store_id=store_id, product_platform_id=product_id).delete()
    CampaignProduct.objects.bulk_create(
        [
            CampaignProduct(campaign=locked, store_id=s, product_platform_id=p)
            for s, p in sorted(wanted - current)
        ]
    )
    governance.audit_record(
        actor=actor,
        action="campaign.set_products",
        object_type="bidding.campaign",
        object_id=locked.pk,
        before={"promoted_products": _product_list(list(current))},
        after={"promoted_products": _product_list(products)},
    )
    return locked


# --- a person's actions ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CampaignActionResult:
    """What a person's action became: a change queued for the platform (``change``), or an approval
    request waiting for a person (``approval_id``); with governance's decision and reasons."""

    campaign_id: int
    kind: str
    decision: str
    reasons: tuple[Mapping[str, str], ...]
    policy_version: int
    dry_run: bool
    change: PlatformChange | None = None
    approval_id: int | None = None

    @property
    def outcome(self) -> str:
        return "queued" if self.change is not None else "needs_approval"


def _denied(auth: governance.Authorization, kind: str, campaign: Campaign) -> BiddingError:
    reasons = [r.as_dict() for r in auth.reasons]
    text = " ".join(r.message for r in auth.reasons) or "The policy refuses it."
    return BiddingError(
        POLICY_DENIED,
        f"The workspace's policy refuses to {kind.replace('_', ' ')} campaign {campaign.pk}: {text}",
        details={"decision": auth.decision.value, "reasons": reasons, "policy_version": auth.policy_version},
        http_status=403,
    )


def _act(
    *, campaign: Campaign, kind: str, value_micros: int | None, reason: str, actor: Actor
) -> CampaignActionResult:
    require_tenant("changing a campaign")
    _actor(actor)
    reason = _reason(reason)
    if kind in (Kind.SET_BID, Kind.SET_BUDGET):
        errors = _Errors()
        field = "bid_micros" if kind == Kind.SET_BID else "daily_budget_micros"
        _micros(errors, field, value_micros, required=True)
        errors.raise_if_any("The amount is invalid.")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().select_related("account").filter(pk=campaign.pk).first()
        if locked is None:
            raise BiddingError(ErrorCode.NOT_FOUND, f"No campaign {campaign.pk} in this workspace.")
        if locked.status == Campaign.Status.REMOVED:
            raise BiddingError(ErrorCode.CONFLICT, f"Campaign {locked.pk} is removed; it cannot be changed.")
        action = governance.ProposedAction(
            kind=_ACTION_KIND[Kind(kind)],
            platform=locked.account.platform,
            campaign=str(locked.pk),
            amount_micros=value_micros,
            paused_by_person=locked.paused_by_person,
        )
        auth = governance.action_authorize(action=action, actor=actor, reserve=False)
        if auth.decision is governance.Decision.DENY:
            raise _denied(auth, kind, locked)
        change = None
        if auth.decision is governance.Decision.ALLOW:
            change = campaign_change_request(
                campaign=locked, kind=kind, value_micros=value_micros, reason=reason, actor=actor
            )
        result = CampaignActionResult(
            campaign_id=locked.pk,
            kind=str(kind),
            decision=auth.decision.value,
            reasons=tuple(r.as_dict() for r in auth.reasons),
            policy_version=auth.policy_version,
            dry_run=auth.dry_run,
            change=change,
            approval_id=auth.approval_id,
        )
        governance.audit_record(
            actor=actor,
            action=f"campaign.{kind}.request",
            object_type="bidding.campaign",
            object_id=locked.pk,
            before=campaign_state(locked),
            after={
                "reason": reason,
                "value_micros": value_micros,
                "outcome": result.outcome,
                "decision": result.decision,
                "policy_version": result.policy_version,
                "change_id": change.pk if change is not None else None,
                "approval_id": result.approval_id,
            },
        )
    return result


def campaign_pause(*, campaign: Campaign, reason: str, actor: Actor) -> CampaignActionResult:
    """A person pauses ``campaign`` (always allowed by the policy: it only lowers spend). Once sent, it
    is recorded as a person's pause, which automation never undoes."""
    return _act(campaign=campaign, kind=Kind.PAUSE, value_micros=None, reason=reason, actor=actor)


def campaign_resume(*, campaign: Campaign, reason: str, actor: Actor) -> CampaignActionResult:
    """A person resumes ``campaign`` (an API key may not resume what a person paused: the policy's
    ``paused_by_person``)."""
    return _act(campaign=campaign, kind=Kind.RESUME, value_micros=None, reason=reason, actor=actor)


def campaign_set_bid(
    *, campaign: Campaign, bid_micros: int, reason: str, actor: Actor
) -> CampaignActionResult:
    """A person sets the campaign's max bid: refused above the policy's max bid, an approval request
    above its approval threshold."""
    return _act(campaign=campaign, kind=Kind.SET_BID, value_micros=bid_micros, reason=reason, actor=actor)


def campaign_set_budget(
    *, campaign: Campaign, daily_budget_micros: int, reason: str, actor: Actor
) -> CampaignActionResult:
    """A person sets the campaign's daily budget: an approval request above the approval threshold."""
    return _act(
        campaign=campaign, kind=Kind.SET_BUDGET, value_micros=daily_budget_micros, reason=reason, actor=actor
    )


def campaign_change_from_approval(
    *, approval_id: int, action: governance.ProposedAction, reserve: bool, note: str, actor: Actor
) -> PlatformChange | None:
    """Queue the campaign change an approved request stood for (``approval_decided``'s receiver).

    Only campaign settings: a budget change, or a bid proposed without a budget reservation (a
    person's max bid; the bidder's bids reserve budget and are not settings). Idempotent by the
    request: its change's key is ``approval:<id>``. None when the request was not a setting change.
    """
    require_tenant("carrying out an approved change")
    _actor(actor)
    kind = _APPROVED_CHANGE.get(governance.ActionKind(action.kind))
    if kind is None or reserve or not CAMPAIGN_ID.fullmatch(action.campaign):
        return None
    campaign = Campaign.objects.select_related("account").filter(pk=int(action.campaign)).first()
    if campaign is None or campaign.account.platform != action.platform:
        return None
    return campaign_change_request(
        campaign=campaign,
        kind=kind,
        value_micros=action.amount_micros,
        reason=note.strip()[:MAX_REASON],
        actor=actor,
        key=f"approval:{approval_id}",
    )
