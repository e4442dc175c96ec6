"""The demo workspace's ads (``manage.py seed_demo`` with the ads sandbox of ``make run``).

- ``demo_ads_connect``: the sandbox's advertiser accounts (``apps.bidding.integrations.sandbox``)
  connected with its tokens and their campaigns registered (target ROAS, daily budgets, promoted
  products shared out among them), through ``ad_account_connect`` and ``campaign_register``. What the
  workspace has already is left as it is, so running it again connects and registers nothing.
- ``demo_bids_decide``: a first batch of bid decisions over the demo campaigns (``bids_decide``): for
  customers with a stored LTV, or, before any customer is scored (scoring follows the store's sync),
  one audience bid per campaign; the customer batch still comes once customers are scored.

Nothing here calls a platform: registering records what the platform holds, and bids are decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from apps.bidding.integrations.sandbox import SANDBOX_ACCOUNTS, SPEND_DAYS, SandboxAccount
from apps.bidding.models import AdPlatformAccount, BidDecision, Campaign
from apps.bidding.services.bidder import BidBatch, BidRequest, bids_decide
from apps.bidding.services.campaigns import ProductRef, ad_account_connect, campaign_register
from apps.bidding.services.decision_log import bid_decisions_flush
from apps.core.actor import Actor
from apps.core.tenant_context import require_tenant
from apps.stores import selectors as stores_selectors

PRODUCTS_PER_CAMPAIGN = 3
DEMO_BID_CUSTOMERS = 20  # customers with a stored LTV in the first batch (each bid on every campaign)
DEMO_CONVERSION_RATE = "0.05"  # the bid is 5 % of the customer's value, over the target ROAS
DEMO_SPEND_DAYS = SPEND_DAYS  # the days of spend the sandbox reports, up to yesterday


@dataclass(frozen=True)
class DemoAds:
    account_ids: tuple[int, ...]  # every sandbox account of the workspace (new or not), catalogue order
    campaign_ids: tuple[int, ...]  # every sandbox campaign of the workspace
    accounts_connected: int  # by this call
    campaigns_registered: int  # by this call
    products_promoted: int  # (campaign, product) pairs registered by this call


def _share(products: Sequence[ProductRef], index: int) -> list[ProductRef]:
    """The products campaign number ``index`` promotes: the next few of the list, round robin."""
    if not products:
        return []
    picked = [
        products[(index * PRODUCTS_PER_CAMPAIGN + j) % len(products)] for j in range(PRODUCTS_PER_CAMPAIGN)
    ]
    return sorted(set(picked))


def _account(sandbox: SandboxAccount, actor: Actor) -> tuple[AdPlatformAccount, bool]:
    existing = AdPlatformAccount.objects.filter(
        platform=sandbox.platform, external_id=sandbox.external_id
    ).first()
    if existing is not None:
        return existing, False
    connected = ad_account_connect(
        platform=sandbox.platform,
        external_id=sandbox.external_id,
        name=sandbox.name,
        currency=sandbox.currency,
        credentials=sandbox.credentials,
        actor=actor,
    )
    return connected, True


@transaction.atomic
def demo_ads_connect(*, promoted_products: Sequence[ProductRef] = (), actor: Actor) -> DemoAds:
    """Connect the ads sandbox's accounts and register their campaigns (see the module's docstring);
    ``promoted_products`` (``(store id, product platform id)``) are shared out among new campaigns, a
    few each. A disconnected account keeps its campaigns as they are."""
    require_tenant("seeding the demo ads")
    account_ids: list[int] = []
    campaign_ids: list[int] = []
    connected = registered = promoted = 0
    index = 0
    for sandbox in SANDBOX_ACCOUNTS:
        account, new = _account(sandbox, actor)
        connected += new
        account_ids.append(account.pk)
        known = dict(Campaign.objects.filter(account=account).values_list("external_id", "pk"))
        for c in sandbox.campaigns:
            products = _share(promoted_products, index)
            index += 1
            if c.external_id in known:
                campaign_ids.append(known[c.external_id])
                continue
            if account.status != AdPlatformAccount.Status.ACTIVE:
                continue
            campaign = campaign_register(
                account=account,
                external_id=c.external_id,
                name=c.name,
                daily_budget_micros=c.daily_budget_micros,
                bid_strategy=Campaign.BidStrategy.TARGET_ROAS,
                target_roas=c.target_roas,
                promoted_products=products,
                actor=actor,
            )
            campaign_ids.append(campaign.pk)
            registered += 1
            promoted += len(products)
    return DemoAds(tuple(account_ids), tuple(campaign_ids), connected, registered, promoted)


def demo_bids_decide(*, campaign_ids: Sequence[int], actor: Actor) -> BidBatch | None:
    """A first batch of bid decisions for the demo campaigns: ``DEMO_BID_CUSTOMERS`` customers with a
    stored LTV bid on every campaign, or, while no customer is scored, one audience bid per campaign.
    Each kind is decided once: None when the workspace has decisions of that kind already (audience
    decisions do not stop the first customer batch once customers are scored) or no campaign is given."""
    require_tenant("seeding the demo bids")
    if not campaign_ids:
        return None
    bid_decisions_flush()  # decisions still waiting for the worker count as made
    customers = stores_selectors.customer_ids_with_ltv()[:DEMO_BID_CUSTOMERS]
    decided = BidDecision.objects.all()
    if customers:
        decided = decided.exclude(ltv_source=BidDecision.LtvSource.NONE)
    if decided.exists():
        return None
    context = {"conversion_rate": DEMO_CONVERSION_RATE}
    if customers:
        requests = [BidRequest(c, customer, context=context) for c in campaign_ids for customer in customers]
    else:
        requests = [BidRequest(c, None, audience="demo-audience", context=context) for c in campaign_ids]
    batch = bids_decide(requests=requests, actor=actor)
    bid_decisions_flush()  # written now (not when the worker starts), so the admin shows them at once
    return batch
