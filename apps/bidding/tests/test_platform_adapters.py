"""The four ad platform adapters against their loopback fakes: pause, resume, bid and budget reach the
platform in its own units and request shape, spend comes back in micros with stable report keys, and
every kind of failure (rate limit, 5xx, timeout, dropped connection, 4xx, bad token) becomes the
right ``PlatformError`` while the platform's state stays as it was."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from apps.bidding.errors import PlatformError
from apps.bidding.integrations import registry
from apps.bidding.integrations.base import AccountAccess, AdPlatformAdapter, SpendRow
from apps.bidding.integrations.fakes import FakeAdPlatform
from apps.bidding.integrations.google_ads.fake import DEVELOPER_TOKEN, FakeGoogleAds
from apps.bidding.integrations.http import dumps_exact, retry_after_seconds
from apps.bidding.integrations.linkedin.fake import FakeLinkedIn
from apps.bidding.integrations.meta.fake import FakeMeta
from apps.bidding.integrations.tiktok import client as tiktok_client
from apps.bidding.integrations.tiktok.fake import FakeTikTok
from apps.bidding.integrations.units import micros_to_amount, micros_to_minor_units

TOKEN = "tok-" + "s3cr3t" * 4  # noqa: S105 - the fakes' token
DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)


@dataclass
class Spec:
    """One platform as the tests drive it: its fake, account and campaign ids, and how to read the
    fake's state of a campaign as (status, bid, budget) in the platform's own units."""

    platform: str
    fake_cls: type[FakeAdPlatform]
    setting: str
    account: str
    campaign: str
    credentials: dict[str, str]
    add: Callable[[Any, str], None]
    state: Callable[[Any, str], tuple[str, Any, Any]]
    paused: str
    active: str


def _google_add(fake: FakeGoogleAds, campaign: str) -> None:
    fake.add_campaign("1234567890", campaign, budget_micros=10_000_000, target_cpa_micros=2_000_000)


def _meta_add(fake: FakeMeta, campaign: str) -> None:
    fake.add_campaign(
        "555", campaign, daily_budget=1000, ad_set_ids=(f"{campaign}1", f"{campaign}2"), bid_amount=200
    )


def _tiktok_add(fake: FakeTikTok, campaign: str) -> None:
    fake.add_campaign("777", campaign, budget="10.00", ad_group_ids=(f"{campaign}1",), bid_price="2.00")


def _linkedin_add(fake: FakeLinkedIn, campaign: str) -> None:
    fake.add_campaign("888", campaign, daily_budget="10.00", unit_cost="2.00")


SPECS = {
    "google_ads": Spec(
        "google_ads",
        FakeGoogleAds,
        "KIKI_GOOGLE_ADS_API_BASE",
        "1234567890",
        "111",
        {"access_token": TOKEN, "developer_token": DEVELOPER_TOKEN},
        _google_add,
        lambda f, c: (
            f.campaign("1234567890", c).status,
            f.campaign("1234567890", c).target_cpa_micros,
            f.budget_of("1234567890", c).amount_micros,
        ),
        "PAUSED",
        "ENABLED",
    ),
    "meta": Spec(
        "meta",
        FakeMeta,
        "KIKI_META_API_BASE",
        "555",
        "222",
        {"access_token": TOKEN},
        _meta_add,
        lambda f, c: (
            f.campaigns[c].status,
            sorted({a.bid_amount for a in f.campaigns[c].ad_sets}),
            f.campaigns[c].daily_budget,
        ),
        "PAUSED",
        "ACTIVE",
    ),
    "tiktok": Spec(
        "tiktok",
        FakeTikTok,
        "KIKI_TIKTOK_API_BASE",
        "777",
        "333",
        {"access_token": TOKEN},
        _tiktok_add,
        lambda f, c: (
            f.campaigns[c].operation_status,
            sorted({g.bid_price for g in f.campaigns[c].ad_groups}),
            f.campaigns[c].budget,
        ),
        "DISABLE",
        "ENABLE",
    ),
    "linkedin": Spec(
        "linkedin",
        FakeLinkedIn,
        "KIKI_LINKEDIN_API_BASE",
        "888",
        "444",
        {"access_token": TOKEN},
        _linkedin_add,
        lambda f, c: (f.campaigns[c].status, f.campaigns[c].unit_cost, f.campaigns[c].daily_budget),
        "PAUSED",
        "ACTIVE",
    ),
}


@pytest.fixture(params=sorted(SPECS))
def spec(request: Any) -> Spec:
    return SPECS[request.param]


@pytest.fixture
def fake(spec: Spec, settings: Any) -> Iterator[Any]:
    with spec.fake_cls() as server:
        server.add_account(spec.account, token=TOKEN, currency="USD")
        spec.add(server, spec.campaign)
        setattr(settings, spec.setting, server.url)
        yield server


def adapter(spec: Spec, *, timeout_s: float = 5.0, credentials: dict[str, str] | None = None, currency: str = "USD") -> AdPlatformAdapter:  # fmt: skip
    access = AccountAccess(spec.platform, spec.account, currency, credentials or spec.credentials)
    return registry.adapter_for(access, timeout_s=timeout_s)


# --- campaign operations, in each platform's units ------------------------------------------------------


def test_pause_and_resume_reach_the_platform_as_its_status_values(spec, fake):
    client = adapter(spec)
    client.pause(spec.campaign)
    assert spec.state(fake, spec.campaign)[0] == spec.paused
    client.resume(spec.campaign)
    assert spec.state(fake, spec.campaign)[0] == spec.active
    assert len(fake.mutations) == 2


def test_bid_reaches_the_platform_in_its_unit_rounded_down(spec, fake):
    applied = adapter(spec).set_bid(spec.campaign, 1_234_567)  # $1.234567
    _, bid, _ = spec.state(fake, spec.campaign)
    expected = {
        "google_ads": (1_234_567, 1_234_567),  # micros, exact
        "meta": ([123], 1_230_000),  # cents on every ad set
        "tiktok": ([Decimal("1.23")], 1_230_000),  # decimal major unit on every ad group
        "linkedin": (Decimal("1.23"), 1_230_000),  # unitCost amount string
    }[spec.platform]
    assert (bid, applied) == expected


def test_budget_reaches_the_platform_in_its_unit_rounded_down(spec, fake):
    applied = adapter(spec).set_budget(spec.campaign, 25_004_999)  # $25.004999
    _, _, budget = spec.state(fake, spec.campaign)
    expected = {
        "google_ads": (25_000_000, 25_000_000),  # amountMicros, a whole cent (Google refuses otherwise)
        "meta": (2500, 25_000_000),  # daily_budget in cents
        "tiktok": (Decimal("25.00"), 25_000_000),
        "linkedin": (Decimal("25.00"), 25_000_000),
    }[spec.platform]
    assert (budget, applied) == expected


def test_meta_takes_budgets_in_the_currencys_minor_unit():
    with FakeMeta() as fake:
        fake.add_account("555", token=TOKEN, currency="JPY")
        fake.add_campaign("555", "9", daily_budget=1000)
        access = AccountAccess("meta", "555", "JPY", {"access_token": TOKEN})
        from apps.bidding.integrations.meta.client import MetaAdapter

        applied = MetaAdapter(access, base_url=fake.url, timeout_s=5).set_budget(
            "9", 1_500_400_000
        )  # ¥1500.4
        assert fake.campaigns["9"].daily_budget == 1500  # yen have no minor unit
        assert applied == 1_500_000_000


def test_meta_bid_is_set_on_every_ad_set_of_the_campaign_and_skips_those_already_there(settings):
    with FakeMeta() as fake:
        fake.add_account("555", token=TOKEN)
        campaign = fake.add_campaign("555", "9", ad_set_ids=("91", "92", "93"), bid_amount=150)
        campaign.ad_sets[1].bid_amount = 300
        fake.page_size_max = 2  # the ad sets come in two pages
        settings.KIKI_META_API_BASE = fake.url
        adapter(SPECS["meta"]).set_bid("9", 3_000_000)
        assert [a.bid_amount for a in campaign.ad_sets] == [300, 300, 300]
        posted = [r.path for r in fake.mutations]
        assert posted == ["/v26.0/91", "/v26.0/93"]  # 92 already had it
        assert all(r.body == b"bid_amount=300" for r in fake.mutations)


def test_request_shapes_follow_each_platforms_contract(spec, fake):
    adapter(spec).pause(spec.campaign)
    [call] = fake.mutations
    if spec.platform == "google_ads":
        assert call.path == "/v26/customers/1234567890/campaigns:mutate"
        assert call.headers["developer-token"] == DEVELOPER_TOKEN
        assert call.json() == {
            "operations": [
                {
                    "update": {"resourceName": "customers/1234567890/campaigns/111", "status": "PAUSED"},
                    "updateMask": "status",
                }  # fmt: skip
            ]
        }
    elif spec.platform == "meta":
        assert (call.path, call.body) == ("/v26.0/222", b"status=PAUSED")
        assert call.headers["authorization"] == f"Bearer {TOKEN}"
    elif spec.platform == "tiktok":
        assert call.path == "/open_api/v1.3/campaign/status/update/"
        assert call.headers["access-token"] == TOKEN
        assert call.json() == {"advertiser_id": "777", "campaign_ids": ["333"], "operation_status": "DISABLE"}
    else:
        assert call.path == "/rest/adAccounts/888/adCampaigns/444"
        assert call.headers["x-restli-method"] == "PARTIAL_UPDATE"
        assert call.headers["linkedin-version"] == "202605"
        assert call.json() == {"patch": {"$set": {"status": "PAUSED"}}}


def test_amounts_are_sent_as_exact_json_numbers():
    assert dumps_exact({"budget": Decimal("25.10"), "n": 1}) == '{"budget":25.10,"n":1}'
    assert micros_to_amount(1_009_999, "USD") == Decimal("1.00")
    assert micros_to_amount(1_500_999_999, "JPY") == Decimal("1500")
    assert micros_to_minor_units(1_234_567, "KWD") == 1234  # three decimals


# --- spend reports ------------------------------------------------------------------------------------


def _seed_spend(spec: Spec, fake: Any) -> None:
    other = "999"
    spec.add(fake, other)
    fake.add_spend(spec.account, spec.campaign, DAY1, spend_micros=12_340_000, impressions=1000, clicks=40, conversions=3, conversion_value_micros=150_500_000)  # fmt: skip
    fake.add_spend(spec.account, spec.campaign, DAY2, spend_micros=7_000_000, impressions=500, clicks=9)
    fake.add_spend(spec.account, other, DAY2, spend_micros=1_010_000, impressions=20, clicks=1, conversions=1, conversion_value_micros=9_990_000)  # fmt: skip
    fake.add_spend(
        spec.account, spec.campaign, date(2026, 3, 5), spend_micros=99_000_000
    )  # outside the window


def test_fetch_spend_returns_micros_per_campaign_and_day_with_stable_keys(spec, fake):
    _seed_spend(spec, fake)
    rows = sorted(adapter(spec).fetch_spend(DAY1, DAY2), key=lambda r: (r.day, r.campaign_external_id))
    account_key = spec.account
    assert rows == [
        SpendRow(
            spec.campaign,
            DAY1,
            12_340_000,
            1000,
            40,
            Decimal(3),
            150_500_000,
            "USD",
            f"{spec.platform}:{account_key}:{spec.campaign}:2026-03-01",
        ),  # fmt: skip
        SpendRow(
            spec.campaign,
            DAY2,
            7_000_000,
            500,
            9,
            Decimal(0),
            0,
            "USD",
            f"{spec.platform}:{account_key}:{spec.campaign}:2026-03-02",
        ),  # fmt: skip
        SpendRow(
            "999",
            DAY2,
            1_010_000,
            20,
            1,
            Decimal(1),
            9_990_000,
            "USD",
            f"{spec.platform}:{account_key}:999:2026-03-02",
        ),  # fmt: skip
    ]
    # Fetching again gives the same keys: the ledger updates rows instead of adding them.
    again = adapter(spec).fetch_spend(DAY1, DAY2)
    assert {r.report_row_key for r in again} == {r.report_row_key for r in rows}


def test_fetch_spend_follows_the_platforms_paging(spec, fake, monkeypatch):
    _seed_spend(spec, fake)
    if spec.platform == "meta":
        fake.page_size_max = 1
    elif spec.platform == "tiktok":
        monkeypatch.setattr(tiktok_client, "PAGE_SIZE", 1)
    rows = adapter(spec).fetch_spend(DAY1, DAY2)
    assert len(rows) == 3
    if spec.platform in ("meta", "tiktok"):
        assert len([r for r in fake.calls if "insights" in r.path or "report" in r.path]) == 3


# --- failures -----------------------------------------------------------------------------------------


def _error(call: Callable[[], Any]) -> PlatformError:
    with pytest.raises(PlatformError) as caught:
        call()
    return caught.value


def test_a_rate_limit_is_transient_and_says_when_to_retry(spec, fake):
    fake.fail_next("rate_limit", retry_after_s=120)
    before = spec.state(fake, spec.campaign)
    error = _error(lambda: adapter(spec).set_budget(spec.campaign, 30_000_000))
    assert error.transient is True
    assert error.platform == spec.platform
    assert error.retry_after_s == pytest.approx(120, abs=1)
    assert (
        error.code
        == {
            "google_ads": "quotaError.RESOURCE_EXHAUSTED",
            "meta": "80004.2446079",
            "tiktok": "40100",
            "linkedin": "TOO_MANY_REQUESTS",
        }[spec.platform]
    )
    if spec.platform == "tiktok":
        assert error.status == 200  # TikTok's errors come with HTTP 200
    assert spec.state(fake, spec.campaign) == before


def test_a_bare_429_is_a_transient_rate_limit_with_retry_after(settings):
    with FakeTikTok() as fake:
        fake.add_account("777", token=TOKEN)
        _tiktok_add(fake, "333")
        settings.KIKI_TIKTOK_API_BASE = fake.url
        fake.fail_next("rate_limit", status=429, retry_after_s=9)
        error = _error(lambda: adapter(SPECS["tiktok"]).pause("333"))
        assert (error.status, error.code, error.transient, error.retry_after_s) == (
            429,
            "rate_limited",
            True,
            9.0,
        )
        assert fake.campaigns["333"].operation_status == "ENABLE"


def test_server_errors_are_transient(spec, fake):
    fake.fail_next("server_error", times=2)
    first = _error(lambda: adapter(spec).pause(spec.campaign))
    assert first.transient is True
    assert first.retry_after_s is None
    fake.fail_next("server_error", status=503)
    assert _error(lambda: adapter(spec).resume(spec.campaign)).transient is True
    assert spec.state(fake, spec.campaign)[0] == spec.active


def test_a_timeout_is_transient(spec, fake):
    fake.fail_next("timeout", delay_s=1.0)
    error = _error(lambda: adapter(spec, timeout_s=0.2).pause(spec.campaign))
    assert (error.status, error.code, error.transient) == (None, "timeout", True)
    assert spec.state(fake, spec.campaign)[0] == spec.active


def test_a_dropped_connection_is_transient(spec, fake):
    fake.fail_next("drop")
    error = _error(lambda: adapter(spec).pause(spec.campaign))
    assert (error.code, error.transient) == ("connection_error", True)


def test_a_refusal_is_not_transient_and_carries_the_platforms_message(spec, fake):
    fake.fail_next("client_error")
    error = _error(lambda: adapter(spec).pause(spec.campaign))
    assert error.transient is False
    assert error.retry_after_s is None
    assert error.message
    assert spec.state(fake, spec.campaign)[0] == spec.active


def test_a_real_refusal_of_the_platform_is_mapped(spec, fake):
    """Not an injected failure: the fake itself refuses (an unknown campaign)."""
    error = _error(lambda: adapter(spec).pause("424242"))
    assert error.transient is False
    assert error.status in (200, 400, 404)


def test_a_wrong_token_is_refused_not_retried(spec, fake):
    bad = {**spec.credentials, "access_token": "nope"}
    error = _error(lambda: adapter(spec, credentials=bad).pause(spec.campaign))
    assert error.transient is False
    assert spec.state(fake, spec.campaign)[0] == spec.active


def test_missing_credentials_are_named_without_calling(spec, fake):
    error = _error(lambda: adapter(spec, credentials={"unrelated": "x"}))
    assert (error.code, error.transient) == ("credentials_missing", False)
    assert fake.calls == []


def test_credentials_never_reach_logs_or_reprs(spec, fake, caplog):
    caplog.set_level(logging.DEBUG)
    client = adapter(spec)
    client.pause(spec.campaign)
    fake.fail_next("client_error")
    error = _error(lambda: client.resume(spec.campaign))
    texts = [caplog.text, repr(client.__dict__), str(error), json.dumps(error.details, default=str)]
    assert not any(TOKEN in t for t in texts)


def test_retry_after_takes_seconds_or_an_http_date():
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
