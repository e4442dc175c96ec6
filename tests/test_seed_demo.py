"""`manage.py seed_demo` (run by `make run`): the sandbox store with generated orders and a requested
LTV training run; with the ads sandbox (its four platform fakes, started here in-process on free ports),
the ad accounts, campaigns, their spend, the demo policy and a first batch of bid decisions. Idempotent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.bidding.integrations import sandbox
from apps.bidding.integrations.fakes import FakeAdPlatform
from apps.bidding.models import (
    AdPlatformAccount,
    BidDecision,
    Campaign,
    CampaignProduct,
    LtvTrainingRun,
    SpendLedger,
)
from apps.bidding.services import ltv_cache
from apps.core.actor import Actor
from apps.core.money import today_utc
from apps.governance.models import AuditEntry, PolicyVersion
from apps.governance.tenancy.management.commands import seed_demo
from apps.stores import services as stores
from apps.stores.models import Customer, Order, StoreConnection

TESTS = Actor.system("tests")
CAMPAIGNS = {(a.platform, c.external_id): c for a in sandbox.SANDBOX_ACCOUNTS for c in a.campaigns}


def test_seed_demo_adds_a_sandbox_store_once_and_requests_training(
    tenants, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(seed_demo, "DEMO_CUSTOMERS", 60)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("seed_demo", stdout=out)
        call_command("seed_demo", stdout=out)
    assert "generated orders of 60 customers" in out.getvalue()
    assert "LTV training run" in out.getvalue()
    with schema_context("demo"):
        store = StoreConnection.objects.get(name=seed_demo.DEMO_STORE)
        assert store.platform == StoreConnection.Platform.MANUAL
        assert Customer.objects.filter(store=store).count() == 60
        orders = Order.objects.filter(store=store).count()
        assert orders > 60
        runs = list(LtvTrainingRun.objects.all())
        assert [(r.status, r.requested_by) for r in runs] == [("requested", "system:seed_demo")]
        first = Order.objects.filter(store=store).earliest("placed_at").placed_at
        last = Order.objects.filter(store=store).latest("placed_at").placed_at
        assert (last - first).days <= seed_demo.DEMO_DAYS
    assert len(callbacks) == 2  # the first call only: re-scoring its customers, then the training task
    for info in tenants:
        with schema_context(info.schema):
            assert not StoreConnection.objects.filter(name=seed_demo.DEMO_STORE).exists()


@pytest.fixture
def ads_sandbox(settings: Any) -> Iterator[dict[str, FakeAdPlatform]]:
    """The ads sandbox's four fakes on free ports, the adapters pointed at them, seed_demo told so."""
    fakes = sandbox.sandbox_platforms()
    for fake in fakes.values():
        fake.start()
    for account in sandbox.SANDBOX_ACCOUNTS:
        setattr(settings, account.base_setting, fakes[account.platform].url)
    settings.KIKI_ADS_SANDBOX = True
    ltv_cache.forget()
    yield fakes
    ltv_cache.forget()
    for fake in fakes.values():
        fake.stop()


def _demo_counts() -> dict[str, int]:
    with schema_context("demo"):
        return {
            "accounts": AdPlatformAccount.objects.count(),
            "campaigns": Campaign.objects.count(),
            "products": CampaignProduct.objects.count(),
            "spend": SpendLedger.objects.count(),
            "policies": PolicyVersion.objects.count(),
            "decisions": BidDecision.objects.count(),
            "audit": AuditEntry.objects.count(),
        }


def _assert_ads(fakes: dict[str, FakeAdPlatform]) -> PolicyVersion:
    """The sandbox's accounts and campaigns as registered, every report row of theirs in the spend
    ledger (none unknown), and the demo policy as the current version."""
    accounts = {(a.platform, a.external_id): a for a in AdPlatformAccount.objects.all()}
    assert set(accounts) == {(a.platform, a.external_id) for a in sandbox.SANDBOX_ACCOUNTS}
    assert {a.status for a in accounts.values()} == {AdPlatformAccount.Status.ACTIVE}
    campaigns = list(Campaign.objects.select_related("account"))
    assert {(c.account.platform, c.external_id) for c in campaigns} == set(CAMPAIGNS)
    for c in campaigns:
        spec = CAMPAIGNS[(c.account.platform, c.external_id)]
        assert (c.name, c.daily_budget_micros, c.target_roas, c.bid_strategy, c.status) == (
            spec.name, spec.daily_budget_micros, spec.target_roas, "target_roas", Campaign.Status.ACTIVE,
        )  # fmt: skip
    today = today_utc()
    for account in sandbox.SANDBOX_ACCOUNTS:
        rows = fakes[account.platform].spend_rows(account.external_id, today - timedelta(days=30), today)
        assert len(rows) == sandbox.SPEND_DAYS * len(account.campaigns)
        ledger = SpendLedger.objects.filter(account__platform=account.platform)
        assert ledger.count() == len(rows)
        assert sorted((r.campaign.external_id, r.day, r.spend_micros) for r in ledger.select_related("campaign")) == sorted(
            (campaign, day, row.spend_micros) for campaign, day, row in rows
        )  # fmt: skip
    policy = PolicyVersion.objects.order_by("-version").first()
    assert policy is not None
    assert (policy.reason, policy.author_name, policy.dry_run) == ("demo policy", "seed_demo", True)
    assert (policy.max_bid_micros, policy.campaign_daily_cap_micros, policy.approval_threshold_micros) == (
        5_000_000, 150_000_000, 100_000_000,
    )  # fmt: skip
    assert policy.allowed_platforms == ["google_ads", "meta", "tiktok"]
    return policy


def _score(n: int, capture: Any) -> list[int]:
    """A stored LTV of 200.00 for the demo store's first ``n`` customers (as nightly scoring stores it)."""
    scored = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:n])
    ltv = Decimal("200.00")
    with capture(execute=True):  # the bump after commit tells the bidder's cache
        stores.customer_set_ltv(
            predictions=[
                stores.LtvValues(pk, ltv, ltv / 2, ltv * 2, Decimal("1.5"), 365, "drnn-test", False, None, date(2026, 1, 1))
                for pk in scored
            ],
            scored_at=datetime.now(UTC),
            actor=TESTS,
        )  # fmt: skip
    return scored


def test_seed_demo_with_the_ads_sandbox_bids_for_audiences_until_customers_are_scored(
    tenants, ads_sandbox, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(seed_demo, "DEMO_CUSTOMERS", 40)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False):  # no scoring: no customer has a stored LTV
        call_command("seed_demo", stdout=out)
        first = _demo_counts()
        call_command("seed_demo", stdout=out)
    assert _demo_counts() == first  # the second run created nothing, not even an audit entry
    text = out.getvalue()
    assert (
        f"ads sandbox: 4 ad accounts connected, {len(CAMPAIGNS)} campaigns registered (0 promoted products"
        in text
    )
    assert f"first bid batch: {len(CAMPAIGNS)} audience bid decisions" in text
    with schema_context("demo"):
        policy = _assert_ads(ads_sandbox)
        assert not CampaignProduct.objects.exists()  # the manual demo store has no products
        decisions = list(BidDecision.objects.select_related("campaign__account"))
        assert sorted(d.campaign.external_id for d in decisions) == sorted(c for _, c in CAMPAIGNS)
        for d in decisions:
            assert (d.customer_id, d.ltv_source, d.dry_run, d.policy_version) == (
                None,
                "none",
                True,
                policy.version,
            )
            codes = [r["code"] for r in d.reasons]
            assert d.decision == "deny"
            assert "no_value" in codes  # nothing is scored yet: an audience is worth the mean of none
            assert ("platform_not_allowed" in codes) == (d.campaign.account.platform == "linkedin")
        scored = _score(3, django_capture_on_commit_callbacks)
    before = _demo_counts()
    # Once customers are scored (after the sync, in `make run`), the next start adds the customer batch.
    with django_capture_on_commit_callbacks(execute=False):
        call_command("seed_demo", stdout=out)
        second = _demo_counts()
        call_command("seed_demo", stdout=out)
    assert _demo_counts() == second  # and the run after it nothing
    added = {k: second[k] - before[k] for k in second if second[k] != before[k]}
    # The batch (and what its budget reservations audit); no account, campaign, spend row or policy.
    assert added.pop("decisions") == len(CAMPAIGNS) * 3
    assert set(added) <= {"audit"}
    assert f"first bid batch: {len(CAMPAIGNS) * 3} customer bid decisions" in out.getvalue()
    with schema_context("demo"):
        assert {d.customer_id for d in BidDecision.objects.filter(ltv_source="stored")} == set(scored)
    # The sandbox was read (spend reports), never changed: dry run, and registering sends nothing.
    assert all(not fake.mutations for fake in ads_sandbox.values())
    for info in tenants:
        with schema_context(info.schema):
            assert not AdPlatformAccount.objects.exists()
            assert not BidDecision.objects.exists()


def test_seed_demo_adds_the_ads_later_promoting_stocked_products_and_bidding_for_scored_customers(
    tenants, ads_sandbox, settings, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(seed_demo, "DEMO_CUSTOMERS", 40)
    settings.KIKI_ADS_SANDBOX = False
    with django_capture_on_commit_callbacks(execute=False):
        call_command("seed_demo", stdout=io.StringIO())
    before = _demo_counts()  # without the ads sandbox: nothing ad-related
    assert [before[k] for k in ("accounts", "campaigns", "spend", "decisions")] == [0, 0, 0, 0]
    with schema_context("demo"):
        assert not PolicyVersion.objects.filter(reason=seed_demo.DEMO_POLICY_REASON).exists()
        store = StoreConnection.objects.get(name=seed_demo.DEMO_STORE)
        stocked = [f"p{i}" for i in range(1, 5)]
        catalogue = [
            stores.ProductInput(
                platform_id=pid,
                title=f"Product {pid}",
                variants=(
                    stores.VariantInput(platform_id=f"v-{pid}", inventory_quantity=0 if pid == "p0" else 5),
                ),
            )
            for pid in ["p0", *stocked]
        ]
        stores.products_upsert(store=store, products=catalogue, actor=TESTS)
        scored = _score(5, django_capture_on_commit_callbacks)

    settings.KIKI_ADS_SANDBOX = True
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=False):
        call_command("seed_demo", stdout=out)
        first = _demo_counts()
        call_command("seed_demo", stdout=out)
    assert _demo_counts() == first
    assert f"{len(CAMPAIGNS)} campaigns registered ({3 * len(CAMPAIGNS)} promoted products)" in out.getvalue()
    assert f"first bid batch: {len(CAMPAIGNS) * len(scored)} customer bid decisions" in out.getvalue()
    with schema_context("demo"):
        policy = _assert_ads(ads_sandbox)
        for campaign in Campaign.objects.all():
            promoted = set(campaign.products.values_list("store_id", "product_platform_id"))
            assert len(promoted) == 3
            assert promoted <= {(store.pk, p) for p in stocked}  # never the product out of stock
        decisions = list(BidDecision.objects.select_related("campaign__account"))
        assert len(decisions) == len(CAMPAIGNS) * len(scored)
        assert {d.customer_id for d in decisions} == set(scored)
        for d in decisions:
            assert (d.ltv_source, d.predicted_ltv_micros, d.dry_run, d.policy_version) == (
                "stored", 200_000_000, True, policy.version,
            )  # fmt: skip
            if d.campaign.account.platform == "linkedin":
                assert d.decision == "deny"
                assert [r["code"] for r in d.reasons] == ["platform_not_allowed"]
            else:  # 5 % of 200.00 over the target ROAS, times pacing, under the $5 max bid: allowed
                assert d.decision == "allow", d.reasons
                assert 0 < d.bid_micros <= 5_000_000
