"""The ads sandbox of ``make run``: the four ad platform fakes on loopback, each with one demo advertiser
account, a handful of campaigns and two weeks of daily spend, for the demo workspace to connect.

``python -m apps.bidding.integrations.sandbox --port 8790`` serves one platform per port from
``--port``: Google Ads on 8790, Meta on 8791, TikTok on 8792, LinkedIn on 8793. Each fake follows its
platform's contract (``<platform>/fake.py``), so the real adapters pause, resume, set bids and budgets
and read spend reports there exactly as they would on the platform. The accounts, campaigns and
tokens are the constants below (``SANDBOX_ACCOUNTS``, public by design, printed on start);
``manage.py seed_demo`` connects the same accounts and registers the same campaigns when
``KIKI_ADS_SANDBOX`` is set, which ``make run`` does together with the four ``KIKI_*_API_BASE``
settings (``sandbox_env``).

Spend: one report row per campaign and day for the ``SPEND_DAYS`` days up to yesterday (UTC),
deterministic per campaign and day (a restart reports the same figures, so a re-fetch changes
nothing); a running sandbox adds each new day as the date changes.

No Django set-up is needed: the fakes are plain stdlib servers (``apps.core.fakes``).
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from apps.bidding.integrations.fakes import FakeAdPlatform
from apps.bidding.integrations.google_ads.fake import DEVELOPER_TOKEN, FakeGoogleAds
from apps.bidding.integrations.linkedin.fake import FakeLinkedIn
from apps.bidding.integrations.meta.fake import FakeMeta
from apps.bidding.integrations.tiktok.fake import FakeTikTok
from apps.bidding.integrations.units import floor_to_minor_unit, micros_to_amount, micros_to_minor_units

DEFAULT_PORT = 8790
SPEND_DAYS = 14
CURRENCY = "USD"


@dataclass(frozen=True)
class SandboxCampaign:
    external_id: str  # the platform's campaign id (digits, as every platform writes them)
    name: str
    daily_budget_micros: int
    target_roas: Decimal
    bid_micros: int  # the bid the platform holds (Google: target CPA; Meta/TikTok: each ad set/group; LinkedIn: unit cost)
    child_id: str = ""  # Meta's ad set / TikTok's ad group carrying the bid ("" for Google and LinkedIn)


@dataclass(frozen=True)
class SandboxAccount:
    platform: str  # apps.bidding.models.Platform value
    external_id: str  # Google customer id, Meta ad account id, TikTok advertiser id, LinkedIn account id
    name: str
    token: str
    port_offset: int  # served on --port + this
    base_setting: str  # the setting that points the adapter at the fake
    campaigns: tuple[SandboxCampaign, ...]
    currency: str = CURRENCY

    @property
    def credentials(self) -> dict[str, str]:
        """What ``ad_account_connect`` stores for this account (the adapter's credential keys)."""
        if self.platform == "google_ads":
            return {"access_token": self.token, "developer_token": DEVELOPER_TOKEN}
        return {"access_token": self.token}


def _c(external_id: str, name: str, budget: int, roas: str, bid: int, child_id: str = "") -> SandboxCampaign:
    return SandboxCampaign(external_id, name, budget * 1_000_000, Decimal(roas), bid * 10_000, child_id)


# Tokens of loopback fakes, public by design (like the sandbox Shopify's app secret).
SANDBOX_ACCOUNTS: tuple[SandboxAccount, ...] = (
    SandboxAccount(
        "google_ads", "5550001001", "Demo Outfitters · Google Ads", "kiki-sandbox-google-ads-token", 0,
        "KIKI_GOOGLE_ADS_API_BASE",
        (
            _c("21000001", "Search · Brand", 80, "4.0", 250),
            _c("21000002", "Shopping · Best sellers", 120, "3.5", 180),
            _c("21000003", "Performance Max · Prospecting", 100, "2.5", 320),
        ),
    ),
    SandboxAccount(
        "meta", "1000001", "Demo Outfitters · Meta", "kiki-sandbox-meta-token", 1, "KIKI_META_API_BASE",
        (
            _c("23850000001", "Advantage+ Shopping", 150, "3.0", 120, "23850000101"),
            _c("23850000002", "Retargeting · Cart abandoners", 60, "5.0", 90, "23850000102"),
            _c("23850000003", "Lookalike · Top customers", 90, "2.5", 140, "23850000103"),
        ),
    ),
    SandboxAccount(
        "tiktok", "7000000001", "Demo Outfitters · TikTok", "kiki-sandbox-tiktok-token", 2,
        "KIKI_TIKTOK_API_BASE",
        (
            _c("1790000000001", "Spark Ads · Creators", 70, "2.0", 80, "1790000000101"),
            _c("1790000000002", "Video Shopping · Catalogue", 50, "2.5", 60, "1790000000102"),
        ),
    ),
    SandboxAccount(
        "linkedin", "5000001", "Demo Outfitters · LinkedIn", "kiki-sandbox-linkedin-token", 3,
        "KIKI_LINKEDIN_API_BASE",
        (
            _c("600001", "B2B · Corporate gifting", 40, "2.0", 700),
            _c("600002", "B2B · Team uniforms", 30, "1.5", 550),
        ),
    ),
)  # fmt: skip

_FAKES: dict[str, type[FakeAdPlatform]] = {
    "google_ads": FakeGoogleAds,
    "meta": FakeMeta,
    "tiktok": FakeTikTok,
    "linkedin": FakeLinkedIn,
}


def sandbox_env(*, base_port: int = DEFAULT_PORT) -> dict[str, str]:
    """The settings (environment variables) that point every process at the sandbox on ``base_port``."""
    env = {a.base_setting: f"http://127.0.0.1:{base_port + a.port_offset}" for a in SANDBOX_ACCOUNTS}
    return {**env, "KIKI_ADS_SANDBOX": "1"}


def _add_campaign(fake: FakeAdPlatform, account: SandboxAccount, c: SandboxCampaign) -> None:
    cur = account.currency
    if isinstance(fake, FakeGoogleAds):
        fake.add_campaign(
            account.external_id,
            c.external_id,
            budget_micros=c.daily_budget_micros,
            target_cpa_micros=c.bid_micros,
        )
    elif isinstance(fake, FakeMeta):
        fake.add_campaign(
            account.external_id,
            c.external_id,
            daily_budget=micros_to_minor_units(c.daily_budget_micros, cur),
            ad_set_ids=(c.child_id,),
            bid_amount=micros_to_minor_units(c.bid_micros, cur),
        )
    elif isinstance(fake, FakeTikTok):
        fake.add_campaign(
            account.external_id,
            c.external_id,
            budget=micros_to_amount(c.daily_budget_micros, cur),
            ad_group_ids=(c.child_id,),
            bid_price=micros_to_amount(c.bid_micros, cur),
        )
    elif isinstance(fake, FakeLinkedIn):
        fake.add_campaign(
            account.external_id,
            c.external_id,
            daily_budget=micros_to_amount(c.daily_budget_micros, cur),
            unit_cost=micros_to_amount(c.bid_micros, cur),
        )
    else:  # pragma: no cover - _FAKES names the four
        raise TypeError(f"no sandbox campaigns for {type(fake).__name__}")


def add_spend_day(fake: FakeAdPlatform, account: SandboxAccount, day: date) -> None:
    """The day's report row of each campaign of ``account``: the same figures for the same campaign and
    day every time (setting it again changes nothing)."""
    for c in account.campaigns:
        rng = random.Random(f"{account.platform}:{c.external_id}:{day.isoformat()}")  # noqa: S311 - demo data
        spend = floor_to_minor_unit(int(c.daily_budget_micros * rng.uniform(0.55, 0.95)), account.currency)
        impressions = spend // 1_000_000 * rng.randint(80, 160)  # a CPM of about $6–12
        clicks = impressions * rng.randint(8, 25) // 1000
        conversions = clicks * rng.randint(2, 6) // 100
        value = floor_to_minor_unit(
            int(spend * float(c.target_roas) * rng.uniform(0.7, 1.3)), account.currency
        )
        fake.add_spend(
            account.external_id,
            c.external_id,
            day,
            spend_micros=spend,
            impressions=impressions,
            clicks=clicks,
            conversions=conversions,
            conversion_value_micros=value if conversions else 0,
        )


def sandbox_platforms(*, base_port: int = 0, today: date | None = None) -> dict[str, FakeAdPlatform]:
    """The four fakes by platform (not started), each holding its sandbox account, campaigns and the
    ``SPEND_DAYS`` days of spend before ``today``; served on ``base_port`` + offset (0: free ports)."""
    today = today or datetime.now(UTC).date()
    fakes: dict[str, FakeAdPlatform] = {}
    for account in SANDBOX_ACCOUNTS:
        fake = _FAKES[account.platform](port=base_port + account.port_offset if base_port else 0)
        fake.add_account(account.external_id, token=account.token, currency=account.currency)
        for campaign in account.campaigns:
            _add_campaign(fake, account, campaign)
        for back in range(SPEND_DAYS, 0, -1):
            add_spend_day(fake, account, today - timedelta(days=back))
        fakes[account.platform] = fake
    return fakes


def _new_days(fakes: dict[str, FakeAdPlatform], stop: threading.Event) -> None:
    """As the date changes, yesterday's report rows appear (checked every minute)."""
    last = datetime.now(UTC).date()
    while not stop.wait(60.0):
        today = datetime.now(UTC).date()
        if today == last:
            continue
        for account in SANDBOX_ACCOUNTS:
            day = last
            while day < today:
                add_spend_day(fakes[account.platform], account, day)
                day += timedelta(days=1)
        last = today


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="Google Ads here, then Meta, TikTok, LinkedIn"
    )
    args = parser.parse_args(argv)
    fakes = sandbox_platforms(base_port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for fake in fakes.values():
        fake.start()
    try:
        for account in SANDBOX_ACCOUNTS:
            print(  # noqa: T201 - the process's lines for `make run`'s log
                f"sandbox {account.platform} at {fakes[account.platform].url}: account {account.external_id}, "
                f"token {account.token}, {len(account.campaigns)} campaigns, {SPEND_DAYS} days of spend",
                flush=True,
            )
        threading.Thread(target=_new_days, args=(fakes, stop), daemon=True).start()
        while not stop.wait(1.0):
            pass
    finally:
        for fake in fakes.values():
            fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
