"""The bidding admin for RevOps: ad accounts (credentials write-only), campaigns (registered and acted
on through the services and governance; status and who paused it never editable), and the read-only
records (bid decisions, platform changes, spend, inventory holds), with two workspaces.

Changelists run a fixed number of queries whatever the number of rows; Admins change, Analysts view.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.bidding import services
from apps.bidding.models import (
    AdPlatformAccount,
    BidDecision,
    Campaign,
    CircuitState,
    InventoryHold,
    PlatformChange,
    SpendLedger,
)
from apps.bidding.tasks import apply_platform_change
from apps.core.actor import Actor, ActorKind
from apps.governance import services as governance
from apps.stores import services as stores

TOKEN = "meta-admin-token-" + "z9" * 10  # noqa: S105 - a fake's token
NEW_TOKEN = "meta-rotated-token-" + "k7" * 10  # noqa: S105
PERSON = Actor(ActorKind.USER, "1", "admin@alpha.test")
SYSTEM = Actor.system("tests")
AuditEntry = django_apps.get_model("governance", "AuditEntry")
ApprovalRequest = django_apps.get_model("governance", "ApprovalRequest")


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch: Any) -> None:
    monkeypatch.setattr(apply_platform_change, "apply_async", lambda **kwargs: None)


def session(info: Any, email: str) -> Client:
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def account(external_id: str = "501", platform: str = "meta", token: str = TOKEN) -> AdPlatformAccount:
    credentials = {"access_token": token}
    if platform == "google_ads":
        credentials["developer_token"] = "developer-" + "t" * 12
    return services.ad_account_connect(
        platform=platform,
        external_id=external_id,
        name=f"{platform} {external_id}",
        currency="USD",
        credentials=credentials,
        actor=SYSTEM,
    )


def campaign(acc: AdPlatformAccount, external_id: str, **kwargs: Any) -> Campaign:
    values: dict[str, Any] = {
        "daily_budget_micros": 12_500_000,
        "bid_strategy": "target_roas",
        "bid_micros": 1_234_500,
        "target_roas": Decimal("3.5"),
        **kwargs,
    }
    return services.campaign_register(
        account=acc, external_id=external_id, name=f"Campaign {external_id}", actor=SYSTEM, **values
    )


def seed(rows: int, batch: int = 0) -> list[Campaign]:
    """``rows`` campaigns over three more accounts (one breaker open), each with a decision, a change,
    spend and an inventory hold."""
    accounts = [account(str(700 + 10 * batch + i), token=f"{TOKEN}{i}") for i in range(3)]
    CircuitState.objects.create(account=accounts[0], state="open", changed_at=datetime.now(UTC))
    made = []
    for i in range(rows):
        c = campaign(accounts[i % 3], str(9000 + 100 * batch + i))
        made.append(c)
        BidDecision.objects.create(
            campaign=c,
            created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
            ltv_source="stored",
            pacing_multiplier=Decimal("1.1"),
            bid_micros=2_000_000,
            predicted_ltv_micros=80_000_000,
            decision="deny",
            reasons=[{"code": "bid_above_max", "message": "The bid is above the max bid."}],
            dry_run=True,
        )
        PlatformChange.objects.create(
            campaign=c,
            kind="set_budget",
            value_micros=20_000_000,
            key=f"k{batch}-{i}",
            requested_by="system:t",
        )
        SpendLedger.objects.create(
            account=c.account,
            campaign=c,
            day=date(2026, 3, 1),
            report_row_key=f"meta:{c.account.external_id}:{c.external_id}:2026-03-01",
            spend_micros=3_330_000,
            conversion_value_micros=9_000_000,
            currency="USD",
            fetched_at=datetime(2026, 3, 2, tzinfo=UTC),
        )
        InventoryHold.objects.create(
            campaign=c,
            store_id=1,
            product_platform_id=f"p{i}",
            previous_bid_micros=1_234_500,
            previous_daily_budget_micros=12_500_000,
            inventory_event_id=1,
            held_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    return made


CHANGELISTS = [
    ("campaign", ["12.50 USD", "1.2345 USD", "3.5000", "Open", "Closed"]),
    ("adplatformaccount", ["Meta Marketing API", "Open"]),
    ("biddecision", ["bid_above_max: The bid is above the max bid.", "2.00 USD", "80.00 USD"]),
    ("platformchange", ["20.00 USD", "Set daily budget"]),
    ("spendledger", ["3.33 USD", "9.00 USD"]),
    ("inventoryhold", ["1.2345 USD", "12.50 USD", "Paused for stock"]),
]


@pytest.mark.parametrize(("model", "texts"), CHANGELISTS, ids=[m for m, _ in CHANGELISTS])
def test_changelists_show_amounts_with_a_fixed_number_of_queries(tenants, model, texts):
    client = session(tenants.a, tenants.a.analyst_email)
    url = f"/admin/bidding/{model}/"
    counts = []
    for batch, rows in enumerate((3, 30)):
        with schema_context(tenants.a.schema):
            seed(rows, batch)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts  # no query per row
    assert counts[1] <= 14, counts
    html = response.content.decode()
    for text in texts:
        assert text in html, text
    for token in (TOKEN, f"{TOKEN}0"):
        assert token not in html
    # b's admin shows none of a's rows.
    other = session(tenants.b, tenants.b.admin_email).get(url)
    assert other.status_code == 200
    assert "Campaign 9000" not in other.content.decode()


def test_an_admin_connects_and_rotates_credentials_that_no_page_shows(tenants):
    client = session(tenants.a, tenants.a.admin_email)
    form = {"platform": "meta", "external_id": "act_501", "name": "Acme Meta", "currency": "USD"}
    missing = client.post("/admin/bidding/adplatformaccount/add/", form)
    assert missing.status_code == 200  # the form again, with the reason
    assert "Required for this platform." in missing.content.decode()
    short = client.post("/admin/bidding/adplatformaccount/add/", {**form, "access_token": "tiny"})
    assert "visible ASCII" in short.content.decode()
    added = client.post("/admin/bidding/adplatformaccount/add/", {**form, "access_token": TOKEN})
    assert added.status_code == 302, added.content.decode()[:3000]
    with schema_context(tenants.a.schema):
        acc = AdPlatformAccount.objects.get(external_id="act_501")
    page = client.get(f"/admin/bidding/adplatformaccount/{acc.pk}/change/")
    html = page.content.decode()
    assert "set: access_token (values are never shown)" in html
    assert 'type="password"' in html  # the rotation fields, empty
    bad = client.post(
        f"/admin/bidding/adplatformaccount/{acc.pk}/change/", {"access_token": NEW_TOKEN + " x"}
    )
    assert bad.status_code == 200
    rotated = client.post(f"/admin/bidding/adplatformaccount/{acc.pk}/change/", {"access_token": NEW_TOKEN})
    assert rotated.status_code == 302
    with schema_context(tenants.a.schema):
        acc.refresh_from_db()
        assert services.ad_account_access(acc).credentials == {"access_token": NEW_TOKEN}
        actions = list(
            AuditEntry.objects.filter(object_type="bidding.adplatformaccount", object_id=str(acc.pk))
            .order_by("sequence")
            .values_list("action", flat=True)
        )
        assert actions == ["ad_account.connect", "ad_account.rotate_credentials"]
        audit = json.dumps(list(AuditEntry.objects.values_list("before", "after")))
        history = json.dumps(list(django_apps.get_model("admin", "LogEntry").objects.values_list("change_message", "object_repr")))  # fmt: skip
    pages = [
        missing,
        short,
        bad,
        page,
        client.get(f"/admin/bidding/adplatformaccount/{acc.pk}/change/"),
        client.get("/admin/bidding/adplatformaccount/"),
        client.get(f"/admin/bidding/adplatformaccount/{acc.pk}/history/"),
    ]
    for secret in (TOKEN, NEW_TOKEN):
        assert secret not in audit
        assert secret not in history
        for response in pages:
            assert secret.encode() not in response.content
    # An Analyst reads the account, cannot rotate or add.
    analyst = session(tenants.a, tenants.a.analyst_email)
    view = analyst.get(f"/admin/bidding/adplatformaccount/{acc.pk}/change/")
    assert view.status_code == 200
    assert 'type="password"' not in view.content.decode()
    assert (
        analyst.post(
            f"/admin/bidding/adplatformaccount/{acc.pk}/change/", {"access_token": TOKEN}
        ).status_code
        == 403
    )
    assert analyst.get("/admin/bidding/adplatformaccount/add/").status_code == 403
    with schema_context(tenants.a.schema):
        acc.refresh_from_db()
        assert services.ad_account_access(acc).credentials == {"access_token": NEW_TOKEN}


def test_campaigns_are_registered_with_products_and_never_edited_by_hand(tenants):
    with schema_context(tenants.a.schema):
        acc = account()
        store = stores.store_create(name="Alpha shop", currency="USD", actor=SYSTEM)
    with schema_context(tenants.b.schema):
        foreign = next(
            s
            for s in (stores.store_create(name=f"Beta {i}", currency="USD", actor=SYSTEM) for i in range(2))
            if s.pk != store.pk
        )
    client = session(tenants.a, tenants.a.admin_email)
    inline = {
        "products-TOTAL_FORMS": "1",
        "products-INITIAL_FORMS": "0",
        "products-MIN_NUM_FORMS": "0",
        "products-MAX_NUM_FORMS": "1000",
    }
    form = {
        "account": acc.pk,
        "external_id": "21",
        "name": "Spring sale",
        "daily_budget": "25.50",
        "bid_strategy": "manual",
        "bid": "",
        "target_roas": "",
        **inline,
        "products-0-store_id": str(store.pk),
        "products-0-product_platform_id": "sku-1",
    }
    no_bid = client.post("/admin/bidding/campaign/add/", form)
    assert no_bid.status_code == 200
    assert "Required: a whole number of micros." in no_bid.content.decode()
    other_store = client.post("/admin/bidding/campaign/add/", {**form, "bid": "1.25", "products-0-store_id": str(foreign.pk)})  # fmt: skip
    assert f"No store {foreign.pk} in this workspace." in other_store.content.decode()
    added = client.post("/admin/bidding/campaign/add/", {**form, "bid": "1.25"})
    assert added.status_code == 302, added.content.decode()[:3000]
    with schema_context(tenants.a.schema):
        c = Campaign.objects.get(external_id="21")
        assert (c.daily_budget_micros, c.bid_micros, c.status) == (25_500_000, 1_250_000, "active")
        assert list(c.products.values_list("store_id", "product_platform_id")) == [(store.pk, "sku-1")]
        assert not Campaign.objects.exclude(pk=c.pk).exists()
    page = client.get(f"/admin/bidding/campaign/{c.pk}/change/").content.decode()
    for field in ("status", "paused_by", "daily_budget_micros", "bid_micros", "paused_reason"):
        assert f'name="{field}"' not in page, field  # shown, never an input
    assert "25.50 USD" in page
    # Tampering with the form cannot change the status: the service saves only the products.
    with schema_context(tenants.a.schema):
        product = c.products.get()
    edit = {
        **inline,
        "products-TOTAL_FORMS": "2",
        "products-INITIAL_FORMS": "1",
        "products-0-id": str(product.pk),
        "products-0-campaign": str(c.pk),
        "products-0-store_id": str(store.pk),
        "products-0-product_platform_id": "sku-1",
        "products-0-DELETE": "on",
        "products-1-campaign": str(c.pk),
        "products-1-store_id": str(store.pk),
        "products-1-product_platform_id": "sku-2",
        "status": "paused",
        "paused_by": "automation",
    }
    assert client.post(f"/admin/bidding/campaign/{c.pk}/change/", edit).status_code == 302
    with schema_context(tenants.a.schema):
        c.refresh_from_db()
        assert (c.status, c.paused_by) == ("active", "")
        assert list(c.products.values_list("product_platform_id", flat=True)) == ["sku-2"]
        actions = list(
            AuditEntry.objects.filter(object_type="bidding.campaign", object_id=str(c.pk))
            .order_by("sequence")
            .values_list("action", flat=True)
        )
        assert actions == ["campaign.register", "campaign.set_products", "campaign.set_products"]
    # b's admin cannot open a's campaign.
    on_b = session(tenants.b, tenants.b.admin_email).get(f"/admin/bidding/campaign/{c.pk}/change/")
    assert on_b.status_code in (302, 404)
    assert b"Spring sale" not in on_b.content


def _action(client: Client, name: str, ids: list[int], **data: Any) -> Any:
    body = {"action": name, "_selected_action": [str(i) for i in ids], "index": "0", **data}
    return client.post("/admin/bidding/campaign/", body, follow=True)


def test_actions_ask_for_a_reason_and_go_through_governance(tenants):
    with schema_context(tenants.a.schema):
        acc = account()
        first, second = campaign(acc, "21"), campaign(acc, "23")
        governance.policy_update(
            actor=PERSON,
            reason="Guardrails",
            changes={"approval_threshold_micros": 50_000_000, "max_bid_micros": 5_000_000},
        )
    client = session(tenants.a, tenants.a.admin_email)
    ask = client.post("/admin/bidding/campaign/", {"action": "pause_campaigns", "_selected_action": [str(first.pk)], "index": "0"})  # fmt: skip
    assert ask.status_code == 200
    assert "Pause campaigns" in ask.content.decode()
    assert 'name="reason"' in ask.content.decode()
    with schema_context(tenants.a.schema):
        assert not PlatformChange.objects.exists()  # nothing until the reason is given
    paused = _action(client, "pause_campaigns", [first.pk, second.pk], apply="1", reason="Creative review")
    assert "queued for the platform (dry run: recorded, not sent)" in paused.content.decode()
    with schema_context(tenants.a.schema):
        changes = list(PlatformChange.objects.order_by("pk"))
        assert [(ch.kind, ch.requested_by, ch.reason) for ch in changes] == [
            ("pause", "user:admin@alpha.test", "Creative review"),
            ("pause", "user:admin@alpha.test", "Creative review"),
        ]
    budget = _action(client, "set_budget", [first.pk], apply="1", reason="Black Friday", amount="80")
    assert "approval request" in budget.content.decode()
    too_high = _action(client, "set_bid", [first.pk], apply="1", reason="Up", amount="6.00")
    assert "bid_above_max" in too_high.content.decode()
    fine = _action(client, "set_bid", [first.pk], apply="1", reason="Up a bit", amount="4.25")
    assert "queued" in fine.content.decode()
    with schema_context(tenants.a.schema):
        approval = ApprovalRequest.objects.get(kind="budget_change")
        assert (approval.amount_micros, approval.campaign_key, approval.requested_by_kind) == (80_000_000, str(first.pk), "user")  # fmt: skip
        assert list(PlatformChange.objects.order_by("pk").values_list("kind", "value_micros"))[2:] == [
            ("set_bid", 4_250_000)
        ]
    # An Analyst sees the campaigns and no action; posting one anyway changes nothing.
    analyst = session(tenants.a, tenants.a.analyst_email)
    listing = analyst.get("/admin/bidding/campaign/").content.decode()
    assert "Campaign 21" in listing
    assert "pause_campaigns" not in listing
    _action(analyst, "pause_campaigns", [second.pk], apply="1", reason="x")
    assert analyst.get("/admin/bidding/campaign/add/").status_code == 403
    with schema_context(tenants.a.schema):
        assert PlatformChange.objects.count() == 3


def test_a_decision_shows_its_reasons_readably_and_nothing_is_editable(tenants):
    with schema_context(tenants.a.schema):
        c = seed(1)[0]
        decision = BidDecision.objects.get(campaign=c)
    client = session(tenants.a, tenants.a.admin_email)
    page = client.get(f"/admin/bidding/biddecision/{decision.pk}/change/").content.decode()
    assert "<li>bid_above_max: The bid is above the max bid.</li>" in page
    assert 'name="decision"' not in page
    for model in ("biddecision", "platformchange", "spendledger", "inventoryhold"):
        assert client.get(f"/admin/bidding/{model}/add/").status_code == 403, model
    filtered = client.get("/admin/bidding/biddecision/", {"decision__exact": "allow"}).content.decode()
    assert "bid_above_max" not in filtered
    by_campaign = client.get(
        "/admin/bidding/platformchange/", {"campaign": str(c.pk), "status__exact": "queued"}
    )
    assert "20.00 USD" in by_campaign.content.decode()
