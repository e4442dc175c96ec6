"""The push path and spend ingestion, with two tenants, through the real task path: a change is written
to the outbox, enqueued on commit, and the ``bidding.apply_platform_change`` task sends it through the
account's circuit breaker and the real adapter to the platform's loopback fake.

Covers: each platform's change reaching its fake and the campaign row following; idempotency (the same
key, the same change applied twice); dry run (governance's policy) sending nothing; retries of
transient errors with back-off and the platform's retry hint, up to a limit; refusals failing at once;
an open breaker keeping a change queued until the cool-down; automation never undoing a person's pause;
the sweeper; and spend reports upserted by report row with the ``syncflow_spend_total`` counter growing
only by what a report adds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from django_tenants.utils import schema_context
from prometheus_client import REGISTRY

from apps.bidding import services
from apps.bidding.errors import BiddingError, CircuitOpen, PlatformError
from apps.bidding.integrations.google_ads.fake import DEVELOPER_TOKEN, FakeGoogleAds
from apps.bidding.integrations.linkedin.fake import FakeLinkedIn
from apps.bidding.integrations.meta.fake import FakeMeta
from apps.bidding.integrations.tiktok.fake import FakeTikTok
from apps.bidding.models import AdPlatformAccount, Campaign, InventoryHold, PlatformChange, SpendLedger
from apps.bidding.tasks import apply_platform_change, fetch_spend, fetch_spend_all
from apps.bidding.tests.helpers import outbox_settings, record_enqueues
from apps.core.actor import Actor, ActorKind
from apps.core.errors import TenantRequired
from apps.governance import services as governance

PERSON = Actor(ActorKind.USER, "1", "admin@alpha.test")
BIDDER = Actor.system("celery:bidding.bidder")
INVENTORY = Actor.system("celery:bidding.inventory_breaker")
TOKEN = "platform-token-" + "x" * 20  # noqa: S105 - the fakes' token
DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)
Status = PlatformChange.Status


@dataclass
class Platforms:
    google_ads: FakeGoogleAds
    meta: FakeMeta
    tiktok: FakeTikTok
    linkedin: FakeLinkedIn
    enqueued: list[tuple[str, int, float]] = field(default_factory=list)  # (schema, change id, countdown)

    def fake(self, platform: str) -> Any:
        return getattr(self, platform)


# Per tenant (a, b), per platform: the account's external id on the platform.
ACCOUNTS = {
    "a": {"google_ads": "1000000001", "meta": "501", "tiktok": "701", "linkedin": "801"},
    "b": {"google_ads": "2000000002", "meta": "502", "tiktok": "702", "linkedin": "802"},
}
CAMPAIGN = {"google_ads": "11", "meta": "21", "tiktok": "31", "linkedin": "41"}


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    outbox_settings(settings, timeout_s=1)


@pytest.fixture
def platforms(settings: Any, monkeypatch: Any) -> Iterator[Platforms]:
    fakes = Platforms(FakeGoogleAds(), FakeMeta(), FakeTikTok(), FakeLinkedIn())
    for platform in CAMPAIGN:
        fake = fakes.fake(platform)
        fake.start()
        for tenant in ("a", "b"):
            fake.add_account(ACCOUNTS[tenant][platform], token=f"{TOKEN}-{tenant}")
        setattr(settings, f"KIKI_{platform.upper()}_API_BASE", fake.url)
    for tenant in ("a", "b"):
        fakes.google_ads.add_campaign(ACCOUNTS[tenant]["google_ads"], "11", budget_micros=10_000_000)
        fakes.meta.add_campaign(ACCOUNTS[tenant]["meta"], "21" if tenant == "a" else "22", ad_set_ids=("2119" if tenant == "a" else "2129",))  # fmt: skip
        fakes.tiktok.add_campaign(ACCOUNTS[tenant]["tiktok"], "31" if tenant == "a" else "32", ad_group_ids=("3119" if tenant == "a" else "3129",))  # fmt: skip
        fakes.linkedin.add_campaign(ACCOUNTS[tenant]["linkedin"], "41" if tenant == "a" else "42")
    record_enqueues(monkeypatch, apply_platform_change, fakes.enqueued, with_countdown=True)
    yield fakes
    for platform in CAMPAIGN:
        fakes.fake(platform).stop()


def campaign_ext(tenant: str, platform: str) -> str:
    base = CAMPAIGN[platform]
    return base if tenant == "a" or platform == "google_ads" else base[0] + "2"


def make_campaign(tenant: str, platform: str, **kwargs: Any) -> Campaign:
    credentials: dict[str, str] = {"access_token": f"{TOKEN}-{tenant}"}
    if platform == "google_ads":
        credentials["developer_token"] = DEVELOPER_TOKEN
    account = AdPlatformAccount.objects.create(
        platform=platform,
        external_id=ACCOUNTS[tenant][platform],
        name=f"{platform} {tenant}",
        credentials=json.dumps(credentials),
    )
    defaults: dict[str, Any] = {"daily_budget_micros": 10_000_000, "bid_micros": 2_000_000}
    return Campaign.objects.create(
        account=account,
        external_id=campaign_ext(tenant, platform),
        name=f"c-{platform}",
        **{**defaults, **kwargs},
    )


def go_live() -> None:
    """An Admin turns the workspace's dry run off (governance's policy; only a person may)."""
    if governance.policy_current().dry_run:
        governance.policy_update(actor=PERSON, reason="Go live for the test", changes={"dry_run": False})


@pytest.fixture
def request_change(django_capture_on_commit_callbacks: Any) -> Any:
    def _request(campaign: Campaign, kind: str, value: int | None = None, *, actor: Actor = PERSON, key: str | None = None) -> PlatformChange:  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            return services.campaign_change_request(
                campaign=campaign, kind=kind, value_micros=value, reason=f"test {kind}", actor=actor, key=key
            )

    return _request


@pytest.fixture
def run(django_capture_on_commit_callbacks: Any) -> Any:
    """Run ``bidding.apply_platform_change`` through Celery's task machinery (in process), committing
    the service's on-commit callbacks (the retry enqueues) as a worker would."""

    def _run(change_id: int) -> PlatformChange:
        with django_capture_on_commit_callbacks(execute=True):
            status = apply_platform_change.apply(args=[change_id]).get()
        change = PlatformChange.objects.get(pk=change_id)
        assert change.status == status
        return change

    return _run


def audit_actions(object_type: str, object_id: int) -> list[str]:
    entry = django_apps.get_model("governance", "AuditEntry")
    rows = entry.objects.filter(object_type=object_type, object_id=str(object_id)).order_by("sequence")
    return [e.action for e in rows]


# --- the push path, per platform ------------------------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(CAMPAIGN))
def test_changes_reach_each_platform_through_the_task_and_the_campaign_follows(
    tenants, platforms, request_change, run, platform
):
    fake = platforms.fake(platform)
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", platform)
        bid = request_change(campaign, "set_bid", 3_456_789, actor=BIDDER)
        budget = request_change(campaign, "set_budget", 42_000_000, actor=BIDDER)
        pause = request_change(campaign, "pause")
        assert [c for _, c, _ in platforms.enqueued] == [bid.pk, budget.pk, pause.pk]
        assert {s for s, _, _ in platforms.enqueued} == {tenants.a.schema}
        assert fake.calls == []  # nothing reaches a platform from the request path
        for change in (bid, budget, pause):
            assert run(change.pk).status == Status.SENT
        campaign.refresh_from_db()
        exact_bid = 3_456_789 if platform == "google_ads" else 3_450_000  # others hold whole cents
        assert (campaign.bid_micros, campaign.daily_budget_micros) == (exact_bid, 42_000_000)
        assert (campaign.status, campaign.paused_by, campaign.paused_by_actor) == (
            Campaign.Status.PAUSED,
            Campaign.PausedBy.PERSON,
            PERSON.label,
        )
        resume = request_change(campaign, "resume")
        assert run(resume.pk).attempts == 1
        campaign.refresh_from_db()
        assert (campaign.status, campaign.paused_by, campaign.paused_at) == (Campaign.Status.ACTIVE, "", None)
        assert audit_actions("bidding.platformchange", pause.pk) == ["platform_change.request", "platform_change.sent"]  # fmt: skip
        assert audit_actions("bidding.campaign", campaign.pk) == [
            "campaign.set_bid",
            "campaign.set_budget",
            "campaign.pause",
            "campaign.resume",
        ]
    # What reached the platform, in its own units.
    ext = campaign_ext("a", platform)
    if platform == "google_ads":
        c = fake.campaign(ACCOUNTS["a"]["google_ads"], ext)
        assert (c.status, c.target_cpa_micros, fake.budget_of(ACCOUNTS["a"]["google_ads"], ext).amount_micros) == ("ENABLED", 3_456_789, 42_000_000)  # fmt: skip
    elif platform == "meta":
        c = fake.campaigns[ext]
        assert (c.status, c.daily_budget, [a.bid_amount for a in c.ad_sets]) == ("ACTIVE", 4200, [345])
    elif platform == "tiktok":
        c = fake.campaigns[ext]
        assert (c.operation_status, c.budget, [g.bid_price for g in c.ad_groups]) == ("ENABLE", Decimal(42), [Decimal("3.45")])  # fmt: skip
    else:
        c = fake.campaigns[ext]
        assert (c.status, c.daily_budget, c.unit_cost) == ("ACTIVE", Decimal(42), Decimal("3.45"))


def test_applying_the_same_change_twice_sends_nothing_the_second_time(
    tenants, platforms, request_change, run
):
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "meta")
        change = request_change(campaign, "pause")
        assert run(change.pk).status == Status.SENT
        sent_at = PlatformChange.objects.get(pk=change.pk).sent_at
        again = run(change.pk)  # a duplicate delivery, a retry after the worker died, …
        assert (again.status, again.attempts, again.sent_at) == (Status.SENT, 1, sent_at)
    assert len(platforms.meta.mutations) == 1


def test_the_same_key_names_the_same_change_and_queues_it_once(tenants, platforms, request_change):
    with schema_context(tenants.a.schema):
        campaign = make_campaign("a", "tiktok")
        first = request_change(campaign, "set_budget", 20_000_000, actor=BIDDER, key="pacing:31:2026-03-01")
        second = request_change(campaign, "set_budget", 20_000_000, actor=BIDDER, key="pacing:31:2026-03-01")
        assert first.pk == second.pk
        assert PlatformChange.objects.count() == 1
        assert [c for _, c, _ in platforms.enqueued] == [first.pk]
        with pytest.raises(BiddingError) as conflict:
            request_change(campaign, "set_budget", 25_000_000, actor=BIDDER, key="pacing:31:2026-03-01")
        assert (conflict.value.code, conflict.value.http_status) == ("conflict", 409)
    with schema_context(tenants.b.schema):
        other = make_campaign("b", "tiktok")
        # Keys are per workspace: tenant b's outbox is its own.
        assert request_change(other, "set_budget", 20_000_000, actor=BIDDER, key="pacing:31:2026-03-01").pk


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("boost", None, "kind"),
        ("set_bid", None, "value_micros"),
        ("set_budget", 0, "value_micros"),
        ("set_bid", 1.5, "value_micros"),
        ("pause", 1_000_000, "value_micros"),
    ],
)
def test_a_bad_change_is_refused_before_anything_is_written(
    tenants, platforms, request_change, kind, value, field
):
    with schema_context(tenants.a.schema):
        campaign = make_campaign("a", "linkedin")
        with pytest.raises(BiddingError) as refused:
            request_change(campaign, kind, value)
        assert (refused.value.http_status, list(refused.value.details)) == (400, [field])
        assert not PlatformChange.objects.exists()
        assert platforms.enqueued == []


def test_services_fail_closed_in_the_public_schema(tenants, platforms):
    with pytest.raises(TenantRequired):
        services.platform_change_apply(change_id=1)
    with pytest.raises(TenantRequired):
        services.spend_fetch(account_id=1, day_from=DAY1, day_to=DAY2)


def test_a_change_of_one_workspace_cannot_be_applied_from_another(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        change = request_change(make_campaign("a", "meta"), "pause")
    with schema_context(tenants.b.schema), pytest.raises(BiddingError) as missing:
        services.platform_change_apply(change_id=change.pk)
    assert missing.value.code == "not_found"
    assert platforms.meta.calls == []


# --- dry run ------------------------------------------------------------------------------------------


def test_dry_run_records_the_change_and_sends_nothing(tenants, platforms, request_change, run):
    with schema_context(tenants.b.schema):  # a new workspace: dry run, as governance's policy says
        assert governance.policy_current().dry_run is True
        campaign = make_campaign("b", "google_ads")
        changes = [
            request_change(campaign, "set_bid", 5_000_000, actor=BIDDER),
            request_change(campaign, "set_budget", 50_000_000, actor=BIDDER),
            request_change(campaign, "pause", actor=BIDDER),
        ]
        for change in changes:
            settled = run(change.pk)
            assert (settled.status, settled.attempts, settled.sent_at) == (Status.DRY_RUN, 0, None)
            assert run(change.pk).status == Status.DRY_RUN  # and stays so
        campaign.refresh_from_db()
        assert (campaign.status, campaign.bid_micros, campaign.daily_budget_micros) == (Campaign.Status.ACTIVE, 2_000_000, 10_000_000)  # fmt: skip
        assert audit_actions("bidding.platformchange", changes[0].pk)[-1] == "platform_change.dry_run"
    assert platforms.google_ads.calls == []  # the platform saw nothing at all
    with schema_context(tenants.a.schema):  # the other workspace went live: its changes are sent
        go_live()
        live = request_change(make_campaign("a", "google_ads"), "pause", actor=BIDDER)
        assert run(live.pk).status == Status.SENT
    assert len(platforms.google_ads.mutations) == 1


# --- failures -----------------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_back_off_then_sent(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "tiktok")
        change = request_change(campaign, "set_budget", 30_000_000, actor=BIDDER)
        platforms.tiktok.fail_next("server_error", times=2)  # TikTok's 50000 in its envelope
        first = run(change.pk)
        assert (first.status, first.attempts) == (Status.QUEUED, 1)
        assert "50000" in first.last_error
        assert platforms.enqueued[-1][1:] == (change.pk, pytest.approx(0, abs=0.01))  # retry enqueued
        assert run(change.pk).attempts == 2
        done = run(change.pk)
        assert (done.status, done.attempts, done.last_error) == (Status.SENT, 3, "")
        campaign.refresh_from_db()
        assert campaign.daily_budget_micros == 30_000_000
    assert platforms.tiktok.campaigns["31"].budget == 30


def test_a_rate_limit_waits_what_the_platform_says(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        change = request_change(make_campaign("a", "google_ads"), "pause", actor=BIDDER)
        platforms.google_ads.fail_next("rate_limit", retry_after_s=30)  # retryDelay "30s"
        before = timezone.now()
        waiting = run(change.pk)
        assert waiting.status == Status.QUEUED
        assert waiting.next_attempt_at - before == pytest.approx(
            timedelta(seconds=30), abs=timedelta(seconds=3)
        )
        assert platforms.enqueued[-1][2] == pytest.approx(30, abs=0.5)
        calls = len(platforms.google_ads.calls)
        assert run(change.pk).status == Status.QUEUED  # an early delivery sends nothing
        assert len(platforms.google_ads.calls) == calls


def test_transient_errors_fail_the_change_after_the_last_attempt(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "linkedin")
        change = request_change(campaign, "pause")
        platforms.linkedin.fail_next("server_error", times=5)
        outcomes = [run(change.pk) for _ in range(4)]
        assert [(c.status, c.attempts) for c in outcomes] == [
            (Status.QUEUED, 1),
            (Status.QUEUED, 2),
            (Status.FAILED, 3),
            (Status.FAILED, 3),  # settled: nothing more is sent
        ]
        assert "INTERNAL_SERVER_ERROR" in outcomes[-1].last_error
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.ACTIVE
        assert audit_actions("bidding.platformchange", change.pk)[-1] == "platform_change.failed"
    assert len(platforms.linkedin.calls) == 3


def test_a_refusal_fails_the_change_at_once_with_the_platforms_message(
    tenants, platforms, request_change, run
):
    with schema_context(tenants.a.schema):
        go_live()
        change = request_change(make_campaign("a", "meta"), "set_bid", 1_000_000, actor=BIDDER)
        platforms.meta.fail_next(
            "client_error", path_contains="/v26.0/2119"
        )  # the ad set's update is refused
        failed = run(change.pk)
        assert (failed.status, failed.attempts) == (Status.FAILED, 1)
        assert "Invalid parameter" in failed.last_error
        assert [c for _, c, _ in platforms.enqueued] == [change.pk]  # no retry


def test_a_timeout_is_retried(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        change = request_change(make_campaign("a", "linkedin"), "set_bid", 4_000_000, actor=BIDDER)
        platforms.linkedin.fail_next("timeout", delay_s=1.6)  # the client waits 1 s
        waiting = run(change.pk)
        assert (waiting.status, waiting.attempts) == (Status.QUEUED, 1)
        assert "timeout" in waiting.last_error
        assert run(change.pk).status == Status.SENT
    assert platforms.linkedin.campaigns["41"].unit_cost == 4


def test_an_open_breaker_keeps_the_change_queued_until_the_cool_down_ends(
    tenants, platforms, request_change, run, settings
):
    settings.KIKI_BREAKER_FAILURES = 2
    settings.KIKI_PLATFORM_CHANGE_MAX_ATTEMPTS = 10
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "meta")
        change = request_change(campaign, "pause", actor=BIDDER)
        platforms.meta.fail_next("server_error", times=2)
        run(change.pk)
        run(change.pk)  # the second failure in a row opens the breaker
        calls = len(platforms.meta.calls)
        held = run(change.pk)
        assert (held.status, held.attempts) == (Status.QUEUED, 2)  # the refused call is not an attempt
        assert "circuit breaker is open" in held.last_error
        assert len(platforms.meta.calls) == calls  # failed fast: the platform was left alone
        assert platforms.enqueued[-1][2] == pytest.approx(0.5, abs=0.2)  # retried after the cool-down
        assert services.breaker_state(account=campaign.account).state == "open"
        time.sleep(0.6)
        sent = run(change.pk)  # the probe
        assert (sent.status, sent.attempts) == (Status.SENT, 3)
        assert services.breaker_state(account=campaign.account).state == "closed"
    assert platforms.meta.campaigns["21"].status == "PAUSED"


# --- who paused it ------------------------------------------------------------------------------------


def test_automation_never_undoes_a_persons_pause(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "tiktok")
        assert run(request_change(campaign, "pause", actor=PERSON).pk).status == Status.SENT
        resume = request_change(campaign, "resume", actor=BIDDER)
        cancelled = run(resume.pk)
        assert cancelled.status == Status.CANCELLED
        assert "person paused" in cancelled.last_error
        repause = run(request_change(campaign, "pause", actor=INVENTORY).pk)  # nor takes the pause over
        assert repause.status == Status.CANCELLED
        campaign.refresh_from_db()
        assert (campaign.status, campaign.paused_by) == (Campaign.Status.PAUSED, Campaign.PausedBy.PERSON)
        # A person may resume it.
        assert run(request_change(campaign, "resume", actor=PERSON).pk).status == Status.SENT
    assert [r.json()["operation_status"] for r in platforms.tiktok.mutations] == ["DISABLE", "ENABLE"]


def test_a_pause_by_the_inventory_breaker_is_attributed_to_it(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "linkedin")
        InventoryHold.objects.create(
            campaign=campaign,
            store_id=1,
            product_platform_id="sku-1",
            previous_bid_micros=campaign.bid_micros,
            previous_daily_budget_micros=campaign.daily_budget_micros,
            inventory_event_id=1,
            held_at=timezone.now(),
        )
        run(request_change(campaign, "pause", actor=INVENTORY).pk)
        campaign.refresh_from_db()
        assert (campaign.status, campaign.paused_by) == (Campaign.Status.PAUSED, Campaign.PausedBy.INVENTORY)
        other = make_campaign("a", "meta")
        run(request_change(other, "pause", actor=BIDDER).pk)
        other.refresh_from_db()
        assert other.paused_by == Campaign.PausedBy.AUTOMATION
        # Automation may resume what automation paused.
        assert run(request_change(campaign, "resume", actor=INVENTORY).pk).status == Status.SENT


def test_an_older_change_overtaken_by_a_newer_one_is_cancelled(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "google_ads")
        older = request_change(campaign, "set_bid", 1_000_000, actor=BIDDER)
        newer = request_change(campaign, "set_bid", 2_500_000, actor=BIDDER)
        assert run(newer.pk).status == Status.SENT
        assert run(older.pk).status == Status.CANCELLED
        campaign.refresh_from_db()
        assert campaign.bid_micros == 2_500_000
    assert platforms.google_ads.campaign("1000000001", "11").target_cpa_micros == 2_500_000


def test_the_sweeper_enqueues_due_and_lost_changes_only(tenants, platforms, request_change, run):
    with schema_context(tenants.a.schema):
        go_live()
        campaign = make_campaign("a", "meta")
        due = request_change(campaign, "set_bid", 1_000_000, actor=BIDDER)
        platforms.meta.fail_next("server_error")
        run(due.pk)  # queued again, due now (back-off 0)
        lost = request_change(campaign, "set_budget", 9_000_000, actor=BIDDER)
        PlatformChange.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=5))
        fresh = request_change(campaign, "pause", actor=BIDDER)  # just enqueued: not the sweeper's
        later = request_change(campaign, "resume", actor=BIDDER)
        PlatformChange.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
        platforms.enqueued.clear()
        assert services.platform_changes_sweep() == 2
        assert sorted(c for _, c, _ in platforms.enqueued) == sorted([due.pk, lost.pk])
        assert fresh.pk not in [c for _, c, _ in platforms.enqueued]


# --- spend ingestion ----------------------------------------------------------------------------------


def spend_counter(schema: str, platform: str) -> float:
    return REGISTRY.get_sample_value("syncflow_spend_total", {"tenant": schema, "platform": platform}) or 0.0


def test_spend_is_upserted_by_report_row_and_counted_once(
    tenants, platforms, django_capture_on_commit_callbacks
):
    fake = platforms.meta
    fake.add_spend("501", "21", DAY1, spend_micros=12_340_000, impressions=100, clicks=4, conversions=1, conversion_value_micros=50_000_000)  # fmt: skip
    fake.add_spend("501", "21", DAY2, spend_micros=3_000_000, impressions=30, clicks=1)
    fake.add_spend("501", "77", DAY2, spend_micros=1_000_000)  # a campaign KIKI does not know
    fake.add_spend("502", "22", DAY1, spend_micros=99_000_000)  # tenant b's account
    with schema_context(tenants.a.schema):
        campaign = make_campaign("a", "meta")
        start = spend_counter(tenants.a.schema, "meta")
        with django_capture_on_commit_callbacks(execute=True):
            first = services.spend_fetch(account_id=campaign.account_id, day_from=DAY1, day_to=DAY2)
        assert (first.rows, first.created, first.updated, first.unchanged) == (3, 2, 0, 0)
        assert (first.added_micros, first.unknown_campaigns) == (15_340_000, ("77",))
        assert spend_counter(tenants.a.schema, "meta") - start == 15_340_000
        with django_capture_on_commit_callbacks(execute=True):
            again = services.spend_fetch(account_id=campaign.account_id, day_from=DAY1, day_to=DAY2)
        assert (again.created, again.updated, again.unchanged, again.added_micros) == (0, 0, 2, 0)
        assert spend_counter(tenants.a.schema, "meta") - start == 15_340_000  # nothing counted twice
        # The platform revises a day: the row is updated, the counter grows by the difference.
        fake.add_spend("501", "21", DAY2, spend_micros=4_500_000, impressions=45, clicks=2)
        with django_capture_on_commit_callbacks(execute=True):
            revised = services.spend_fetch(account_id=campaign.account_id, day_from=DAY2, day_to=DAY2)
        assert (revised.created, revised.updated, revised.added_micros) == (0, 1, 1_500_000)
        assert spend_counter(tenants.a.schema, "meta") - start == 16_840_000
        rows = {r.day: r for r in SpendLedger.objects.filter(campaign=campaign)}
        assert len(rows) == SpendLedger.objects.count() == 2
        assert (rows[DAY1].spend_micros, rows[DAY1].conversion_value_micros, rows[DAY1].currency) == (12_340_000, 50_000_000, "USD")  # fmt: skip
        assert (rows[DAY2].spend_micros, rows[DAY2].impressions, rows[DAY2].report_row_key) == (4_500_000, 45, "meta:501:21:2026-03-02")  # fmt: skip
        # Governance's budget ledger counts the actual spend, by the same report rows.
        ledger = django_apps.get_model("governance", "BudgetLedgerEntry")
        entry = ledger.objects.get(report_key="meta:501:21:2026-03-02")
        assert (entry.actual_micros, entry.campaign_key, entry.platform) == (
            4_500_000,
            str(campaign.pk),
            "meta",
        )
    with schema_context(tenants.b.schema):
        assert not SpendLedger.objects.exists()


def test_spend_is_not_written_when_the_platform_cannot_be_read(tenants, platforms, settings):
    settings.KIKI_BREAKER_FAILURES = 1
    platforms.tiktok.add_spend("701", "31", DAY1, spend_micros=5_000_000)
    with schema_context(tenants.a.schema):
        campaign = make_campaign("a", "tiktok")
        platforms.tiktok.fail_next("rate_limit")
        with pytest.raises(PlatformError) as caught:
            services.spend_fetch(account_id=campaign.account_id, day_from=DAY1, day_to=DAY1)
        assert (caught.value.code, caught.value.transient) == ("40100", True)
        with pytest.raises(CircuitOpen):  # one failure opened it: the next read fails fast
            services.spend_fetch(account_id=campaign.account_id, day_from=DAY1, day_to=DAY1)
        assert not SpendLedger.objects.exists()


def test_the_spend_tasks_fetch_every_active_account(tenants, platforms, monkeypatch, django_capture_on_commit_callbacks):  # fmt: skip
    platforms.linkedin.add_spend("801", "41", DAY1, spend_micros=2_220_000, impressions=9)
    with schema_context(tenants.a.schema):
        campaign = make_campaign("a", "linkedin")
        make_campaign("a", "google_ads")
        AdPlatformAccount.objects.filter(platform="google_ads").update(
            status=AdPlatformAccount.Status.DISCONNECTED
        )
        queued: list[dict[str, Any]] = []
        monkeypatch.setattr(fetch_spend, "apply_async", lambda **kw: queued.append(kw))
        assert fetch_spend_all.apply().get() == 1
        assert queued == [{"kwargs": {"account_id": campaign.account_id}}]
        with django_capture_on_commit_callbacks(execute=True):
            written = fetch_spend.apply(
                kwargs={"account_id": campaign.account_id, "day_from": "2026-03-01", "day_to": "2026-03-01"}
            ).get()
        assert written == 1
        row = SpendLedger.objects.get(campaign=campaign)
        assert (row.day, row.spend_micros, row.impressions) == (DAY1, 2_220_000, 9)
    assert services.spend_window(today=date(2026, 3, 10)) == (date(2026, 3, 8), date(2026, 3, 10))


# --- a real worker ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_real_worker_applies_the_change_in_the_requesting_workspace(committed_db):
    """Committed rows, a real Celery worker on the bidding queue: the change requested in tenant a is
    applied by the worker in tenant a's schema, where dry run (a new workspace's) keeps it off the
    platform. Tenant b's outbox is untouched."""
    from tests.celery_worker import celery_worker, worker_database_url

    a, b = committed_db.a, committed_db.b
    with FakeMeta() as fake:
        fake.add_account("591", token=f"{TOKEN}-w")
        fake.add_campaign("591", "29")
        try:
            with schema_context(a.schema):
                assert governance.policy_current().dry_run is True
                account = AdPlatformAccount.objects.create(
                    platform="meta",
                    external_id="591",
                    name="w",
                    credentials=json.dumps({"access_token": f"{TOKEN}-w"}),
                )
                campaign = Campaign.objects.create(
                    account=account, external_id="29", name="w", daily_budget_micros=1
                )
            env = {"KIKI_META_API_BASE": fake.url}
            with celery_worker("bidding", database_url=worker_database_url(), env=env):
                with schema_context(a.schema):
                    change = services.campaign_change_request(
                        campaign=campaign,
                        kind="pause",
                        reason="worker test",
                        actor=PERSON,
                        key="worker-test-1",
                    )  # autocommit: enqueued at once
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    with schema_context(a.schema):
                        status = PlatformChange.objects.get(pk=change.pk).status
                    if status != Status.QUEUED:
                        break
                    time.sleep(0.2)
            assert status == Status.DRY_RUN
            assert fake.calls == []
            with schema_context(b.schema):
                assert not PlatformChange.objects.filter(key="worker-test-1").exists()
        finally:
            with schema_context(a.schema):
                PlatformChange.objects.filter(key="worker-test-1").delete()
                Campaign.objects.filter(account__external_id="591").delete()
                AdPlatformAccount.objects.filter(external_id="591").delete()
