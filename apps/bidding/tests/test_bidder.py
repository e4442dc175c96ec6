"""The bidder end to end: POST /api/v1/bidding/decide → bids_decide → stored LTV, pacing, governance's
rule on columns and budget reservations → BidDecision rows, with two workspaces.

Each figure is computed by hand: a customer with a stored LTV of 100.00, a campaign with target ROAS 4,
nothing spent yet (pacing multiplier 2.0) bids 100 / 4 × 2 = 50.00."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.apps import apps as django_apps
from django_tenants.utils import schema_context

from apps.bidding import services
from apps.bidding.models import BidDecision, Campaign
from apps.bidding.services import ltv_cache
from apps.core.actor import Actor, ActorKind
from apps.governance import services as governance
from apps.stores import services as stores
from conftest import api_client_for

URL = "/api/v1/bidding/decide"
PERSON = Actor(ActorKind.USER, "1", "admin@test")
TESTS = Actor.system("tests")
ApprovalRequest = django_apps.get_model("governance", "ApprovalRequest")
Customer = django_apps.get_model("stores", "Customer")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    ltv_cache.forget()
    yield
    ltv_cache.forget()


def _world(
    info: Any, *, ltv: Decimal = Decimal("100.00"), scored: int = 2, unscored: int = 1
) -> dict[str, Any]:
    """A store with customers (``scored`` with a stored LTV, ``unscored`` with orders but none), a Meta
    account and an active campaign (target ROAS 4, budget 1,000/day), in ``info``'s schema."""
    with schema_context(info.schema):
        store = stores.store_create(name=f"Shop {info.schema}", currency="USD", actor=TESTS)
        orders = [
            stores.OrderInput(
                platform_id=f"o{i}",
                placed_at=datetime(2026, 1, 1 + i, 12, tzinfo=UTC),
                total=Decimal("40.00"),
                customer=stores.CustomerInput(platform_id=f"c{i}", email=f"c{i}@example.test"),
            )
            for i in range(scored + unscored)
        ]
        stores.orders_upsert(store=store, orders=orders, actor=TESTS)
        customers = list(Customer.objects.order_by("platform_id"))
        stores.customer_set_ltv(
            predictions=[
                stores.LtvValues(
                    c.pk,
                    ltv,
                    ltv / 2,
                    ltv * 2,
                    Decimal("1.5"),
                    365,
                    "drnn-test",
                    False,
                    None,
                    date(2026, 2, 1),
                )
                for c in customers[:scored]
            ],  # fmt: skip
            scored_at=datetime(2026, 2, 1, 3, tzinfo=UTC),
            actor=TESTS,
        )
        account = services.ad_account_connect(
            platform="meta", external_id="501", name="Meta", currency="USD",
            credentials={"access_token": "meta-token-" + "x" * 20}, actor=PERSON,
        )  # fmt: skip
        campaign = services.campaign_register(
            account=account, external_id="21", name="Prospecting", daily_budget_micros=1_000_000_000,
            bid_strategy="target_roas", target_roas=Decimal("4"), actor=PERSON,
        )  # fmt: skip
        return {"campaign": campaign, "customers": [c.pk for c in customers], "store": store}


def _policy(info: Any, **changes: Any) -> None:
    with schema_context(info.schema):
        governance.policy_update(actor=PERSON, reason="test policy", changes=changes)


def _decide(info: Any, client: Any, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post(URL, {"requests": requests}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["decisions"]


@pytest.fixture
def admin_a(tenants: Any, login_token: Any) -> Any:
    return api_client_for(tenants.a.host, token=login_token(tenants.a, tenants.a.admin_email))


def codes(decision: dict[str, Any]) -> list[str]:
    return [r["code"] for r in decision["reasons"]]


def test_stored_ltv_bid_is_value_over_target_roas_times_pacing(
    tenants: Any, admin_a: Any, django_capture_on_commit_callbacks: Any
) -> None:
    a = _world(tenants.a)
    _world(tenants.b, ltv=Decimal("7.00"))
    c = a["campaign"].pk
    with django_capture_on_commit_callbacks(execute=True):  # releases apply after commit
        got = _decide(tenants.a, admin_a, [
            {"campaign_id": c, "customer_id": a["customers"][0]},
            {"campaign_id": c, "customer_id": a["customers"][1], "context": {"conversion_rate": "0.1"}},
        ])  # fmt: skip
    assert [d["bid_micros"] for d in got] == [50_000_000, 5_000_000]
    assert [d["decision"] for d in got] == ["allow", "allow"]
    assert got[0]["ltv"] == {
        "predicted_micros": 100_000_000, "low_micros": 50_000_000, "high_micros": 200_000_000,
        "source": "stored", "model_version": "drnn-test",
    }  # fmt: skip
    assert got[0]["pacing_multiplier"] == 2.0
    assert got[0]["dry_run"] is True
    with schema_context(tenants.a.schema):
        assert not BidDecision.objects.exists()  # the worker records them, off the request path
        assert services.bid_decisions_flush() == 2
        rows = list(
            BidDecision.objects.order_by("pk").values_list("campaign_id", "bid_micros", "decision", "dry_run")
        )
        assert rows == [(c, 50_000_000, "allow", True), (c, 5_000_000, "allow", True)]
        # dry run: what was reserved to decide is given back at once
        assert governance.budget_counters(platform="meta", campaign=str(c))["campaign_daily"] == 0
    with schema_context(tenants.b.schema):
        assert not BidDecision.objects.exists()


def test_policy_max_bid_caps_the_bid_and_budget_caps_hold(tenants: Any, admin_a: Any) -> None:
    a = _world(tenants.a)
    _policy(tenants.a, max_bid_micros=30_000_000, campaign_daily_cap_micros=70_000_000, dry_run=False)
    c, who = a["campaign"].pk, a["customers"][0]
    got = _decide(tenants.a, admin_a, [{"campaign_id": c, "customer_id": who}] * 3)
    assert [d["bid_micros"] for d in got] == [30_000_000] * 3  # capped at the max bid, not denied
    assert [d["decision"] for d in got] == ["allow", "allow", "deny"]  # 2 × 30 fit under 70, not 3
    assert codes(got[2]) == ["over_budget"]
    assert got[0]["reservation_id"]
    assert got[0]["reservation_id"] == got[1]["reservation_id"]
    with schema_context(tenants.a.schema):
        assert governance.budget_counters(platform="meta", campaign=str(c))["campaign_daily"] == 60_000_000


def test_each_reason_of_the_bidder(tenants: Any, admin_a: Any) -> None:
    a = _world(tenants.a)
    b = _world(tenants.b)
    c = a["campaign"].pk
    with schema_context(tenants.a.schema):
        paused = Campaign.objects.create(
            account=a["campaign"].account, external_id="99", name="Paused", status="paused", paused_by="person",
            daily_budget_micros=1_000_000, target_roas=Decimal("2"),
        )  # fmt: skip
    got = _decide(tenants.a, admin_a, [
        {"campaign_id": 10**9, "customer_id": a["customers"][0]},  # no such campaign
        {"campaign_id": paused.pk, "customer_id": a["customers"][0]},
        {"campaign_id": c, "customer_id": 10**9},  # no such customer
        {"campaign_id": c, "customer_id": b["customers"][0]},  # the other workspace's customer
        {"campaign_id": c, "customer_id": a["customers"][0], "context": {"conversion_rate": "0"}},
        {"campaign_id": c, "audience": "lookalike-1"},
        {"campaign_id": c, "customer_id": a["customers"][2]},  # orders, no stored LTV: worker or fallback
    ])  # fmt: skip
    assert [codes(d)[:1] for d in got[:5]] == [
        ["unknown_campaign"], ["campaign_not_active"], ["unknown_customer"], ["unknown_customer"], ["no_value"],
    ]  # fmt: skip
    assert all(d["decision"] == "deny" and d["bid_micros"] >= 0 for d in got[:5])
    # an audience is valued at the mean stored LTV (100.00 for both scored customers)
    assert got[5]["ltv"]["source"] == "none"
    assert got[5]["bid_micros"] == 50_000_000
    assert got[6]["ltv"]["source"] in ("worker", "fallback")
    assert got[6]["decision"] == "allow"
    with schema_context(tenants.a.schema):  # a request naming no campaign of this workspace is not recorded
        services.bid_decisions_flush()
        assert BidDecision.objects.count() == 6


def test_kill_switch_roas_and_approval_come_from_governance(tenants: Any, admin_a: Any) -> None:
    a = _world(tenants.a)
    c, who = a["campaign"].pk, a["customers"][0]
    _policy(tenants.a, approval_threshold_micros=40_000_000)
    got = _decide(tenants.a, admin_a, [{"campaign_id": c, "customer_id": who}])
    assert got[0]["decision"] == "needs_approval"
    assert codes(got[0]) == ["above_approval_threshold"]
    with schema_context(tenants.a.schema):
        assert ApprovalRequest.objects.filter(kind="bid", amount_micros=50_000_000).count() == 1
    # pacing doubles the bid: ROAS 100 / 50 = 2 < 3
    _policy(tenants.a, approval_threshold_micros=None, min_roas=Decimal("3"))
    got = _decide(tenants.a, admin_a, [{"campaign_id": c, "customer_id": who}])
    assert got[0]["decision"] == "deny"
    assert codes(got[0]) == ["roas_below_min"]
    _policy(tenants.a, kill_switch=True, min_roas=None)
    got = _decide(tenants.a, admin_a, [{"campaign_id": c, "customer_id": who}])
    assert codes(got[0]) == ["kill_switch"]


def test_one_decision_is_the_batch_rule_on_a_batch_of_one(
    tenants: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """In dry run every reservation is given back after commit, so each call sees the same state."""
    a = _world(tenants.a, scored=3, unscored=0)
    c = a["campaign"].pk
    rng = np.random.default_rng(3)
    requests = [
        services.BidRequest(campaign_id=c, customer_id=int(rng.choice(a["customers"])),
                            context={"conversion_rate": str(round(float(rng.random()), 3))})
        for _ in range(30)
    ]  # fmt: skip
    with schema_context(tenants.a.schema):
        with django_capture_on_commit_callbacks(execute=True):
            batch = services.bids_decide(requests=requests, actor=TESTS).as_dicts()
        singles = []
        for r in requests:
            with django_capture_on_commit_callbacks(execute=True):
                singles.append(services.bids_decide(requests=[r], actor=TESTS).as_dicts()[0])
    assert [(d["bid_micros"], d["decision"], d["reasons"]) for d in batch] == [
        (d["bid_micros"], d["decision"], d["reasons"]) for d in singles
    ]


def test_stored_predictions_are_read_fresh_after_scoring(
    tenants: Any, django_capture_on_commit_callbacks: Any
) -> None:
    a = _world(tenants.a, scored=1, unscored=0)
    c, who = a["campaign"].pk, a["customers"][0]
    with schema_context(tenants.a.schema):
        first = services.bids_decide(requests=[services.BidRequest(c, who)], actor=TESTS)
        with django_capture_on_commit_callbacks(execute=True):
            stores.customer_set_ltv(
                predictions=[stores.LtvValues(who, Decimal("200.00"), Decimal("100.00"), Decimal("400.00"),
                                              Decimal("2"), 365, "drnn-test2", False, None, date(2026, 3, 1))],
                scored_at=datetime(2026, 3, 1, tzinfo=UTC), actor=TESTS,
            )  # fmt: skip
        second = services.bids_decide(requests=[services.BidRequest(c, who)], actor=TESTS)
    assert (int(first.ltv_micros[0]), int(second.ltv_micros[0])) == (100_000_000, 200_000_000)
    assert second.ltv_model_version == ("drnn-test2",)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"requests": []}, "requests"),
        ({"requests": [{"campaign_id": 1, "context": {"conversion_rate": "2"}}]}, "requests"),
        ({"requests": [{"campaign_id": "1"}]}, "requests"),
        ({}, "requests"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    tenants: Any, admin_a: Any, body: dict[str, Any], field: str
) -> None:
    response = admin_a.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in str(response.json()["error"]["details"])


def test_analysts_and_other_workspaces_cannot_decide(tenants: Any, login_token: Any) -> None:
    a = _world(tenants.a)
    analyst = api_client_for(tenants.a.host, token=login_token(tenants.a, tenants.a.analyst_email))
    body = {"requests": [{"campaign_id": a["campaign"].pk}]}
    assert analyst.post(URL, body, format="json").status_code == 403
    beta_admin = api_client_for(tenants.b.host, token=login_token(tenants.b, tenants.b.admin_email))
    got = beta_admin.post(URL, body, format="json").json()["decisions"]
    assert codes(got[0])[:1] == ["unknown_campaign"]  # beta sees no campaign of alpha's
    other_host = api_client_for(tenants.a.host, token=login_token(tenants.b, tenants.b.admin_email))
    assert other_host.post(URL, body, format="json").status_code == 401


def test_decisions_are_written_once_even_after_a_crash_mid_flush(tenants: Any) -> None:
    """A batch left in the processing list by a worker that died after its COPY committed (but before it
    removed the entry) is not written again; the task path writes what waits."""
    from apps.bidding.services import decision_log
    from apps.bidding.tasks import record_bid_decisions
    from apps.core.redis import get_redis

    a = _world(tenants.a, scored=2, unscored=0)
    c = a["campaign"].pk
    with schema_context(tenants.a.schema):
        services.bids_decide(requests=[services.BidRequest(c, a["customers"][0])] * 3, actor=TESTS)
        services.bids_decide(requests=[services.BidRequest(c, a["customers"][1])] * 2, actor=TESTS)
        assert services.bid_decisions_waiting() == 2
        queue, processing, _flag = decision_log._keys(tenants.a.schema)
        client = get_redis()
        payload = client.lmove(queue, processing, "LEFT", "RIGHT")
        header, cols = decision_log.unpack(payload)
        assert decision_log._write(header, cols) == 3  # the COPY commits, then the worker dies
        assert record_bid_decisions.apply(headers={"_schema_name": tenants.a.schema}).get() == 2
        assert services.bid_decisions_waiting() == 0
        assert services.bid_decisions_flush() == 0
        assert sorted(BidDecision.objects.values_list("customer_id", flat=True)) == sorted(
            [a["customers"][0]] * 3 + [a["customers"][1]] * 2
        )
        assert BidDecision.objects.values("batch_id").distinct().count() == 2
    with schema_context(tenants.b.schema):
        assert services.bid_decisions_waiting() == 0
