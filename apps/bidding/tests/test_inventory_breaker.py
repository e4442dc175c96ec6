"""The inventory circuit breaker end to end, two tenants: a signed Shopify webhook posted to the real
endpoint, the ``stores.drain_webhooks`` task (the stock write, its transition, the bidding hook), the
breaker's hold and pause in the outbox, and the ``bidding.apply_platform_change`` task sending it
through the real Meta adapter to the loopback fake; then the restock webhook restoring the budget and
bid and resuming. Tasks run in process through Celery's task machinery (``.apply``), committing their
on-commit callbacks as a worker would.

Covers: the loop out of stock → pause → restock → resume; a person's pause (or change) during the hold
never undone; dry run (holds and decisions recorded, nothing sent); a duplicated webhook and a replayed
transition pausing once; a campaign promoting two products staying paused until both are back; a
variant out while another is in stock pausing nothing; campaigns already paused left alone; the kill
switch allowing the pause and refusing the resume until the hourly review after it is lifted; a failing
hook queued for a retry; a failing mail changing nothing; the Admins' e-mails; the audit entries; the
other tenant untouched; the stock selectors' tenant boundary.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.test import Client
from django_tenants.utils import get_public_schema_name, schema_context

from apps.bidding import receivers, services
from apps.bidding.integrations.meta.fake import FakeMeta
from apps.bidding.models import AdPlatformAccount, Campaign, CampaignProduct, InventoryHold, PlatformChange
from apps.bidding.tasks import apply_inventory_breaker, apply_platform_change, review_inventory_holds
from apps.bidding.tests.helpers import outbox_settings, record_enqueues
from apps.core.actor import Actor, ActorKind
from apps.core.errors import TenantRequired
from apps.governance import services as governance
from apps.stores import selectors as stores_selectors
from apps.stores import services as catalog
from kiki_project.celery import app as celery_app

# Stores is reached through its services and selectors; its rows and its drain task by name.
StoreConnection = django_apps.get_model("stores", "StoreConnection")
InventoryEvent = django_apps.get_model("stores", "InventoryEvent")
celery_app.loader.import_default_modules()  # the apps' tasks modules, as a worker loads them
drain_webhooks = celery_app.tasks["stores.drain_webhooks"]


def shopify_webhook_signature(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256`` as Shopify documents it: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


SECRET = "inventory-breaker-app-secret"  # noqa: S105 - the test app's
TOKEN = "meta-token-" + "x" * 20  # noqa: S105 - the fake's
BIDDER = Actor.system("celery:bidding.bidder")
HoldState = InventoryHold.State
ChangeStatus = PlatformChange.Status

# Per tenant: the shop, the Meta ad account and campaign ids (on the platform).
SHOPS = {"a": "alpha-breaker.myshopify.com", "b": "beta-breaker.myshopify.com"}
META_ACCOUNT = {"a": "9101", "b": "9202"}
# Products: platform id → [(variant id, inventory item id)]. Both shops sell the same product ids.
PRODUCTS = {"7001": [("71", "8071")], "7002": [("72", "8072")], "7003": [("731", "8731"), ("732", "8732")]}


@dataclass
class Shop:
    tenant: str
    schema: str
    host: str
    admin_email: str
    store_id: int
    person: Actor


@dataclass
class World:
    meta: FakeMeta
    a: Shop
    b: Shop
    enqueued: list[tuple[str, int]] = field(default_factory=list)  # (schema, change id)
    retries: list[tuple[str, list[Any]]] = field(default_factory=list)  # (schema, breaker task args)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.KIKI_SHOPIFY_CLIENT_SECRET = SECRET
    outbox_settings(settings, timeout_s=2)


def _shop(tenant: Any, key: str) -> Shop:
    with schema_context(tenant.schema):
        store = StoreConnection.objects.create(
            platform="shopify",
            shop_domain=SHOPS[key],
            name=f"Shop {key}",
            currency="USD",
            credentials='{"access_token": "unused: deliveries carry the whole resource"}',
        )
        catalog.products_upsert(
            store=store,
            products=[
                catalog.ProductInput(
                    platform_id=pid,
                    title=f"Product {pid}",
                    variants=tuple(
                        catalog.VariantInput(platform_id=vid, inventory_item_id=item, inventory_quantity=5)
                        for vid, item in variants
                    ),
                )
                for pid, variants in PRODUCTS.items()
            ],
            actor=Actor.system("tests"),
        )
        return Shop(
            key,
            tenant.schema,
            tenant.host,
            tenant.admin_email,
            store.pk,
            Actor(ActorKind.USER, "1", tenant.admin_email),
        )


@pytest.fixture
def world(tenants: Any, settings: Any, monkeypatch: Any) -> Iterator[World]:
    meta = FakeMeta().start()
    settings.KIKI_META_API_BASE = meta.url
    for key in ("a", "b"):
        meta.add_account(META_ACCOUNT[key], token=f"{TOKEN}-{key}")
    w = World(meta, _shop(tenants.a, "a"), _shop(tenants.b, "b"))

    def record_retry(*, args: list[Any], **kwargs: Any) -> None:
        from django.db import connection

        w.retries.append((connection.schema_name, list(args)))

    record_enqueues(monkeypatch, apply_platform_change, w.enqueued)
    monkeypatch.setattr(apply_inventory_breaker, "apply_async", record_retry)
    monkeypatch.setattr(drain_webhooks, "apply_async", lambda **kwargs: None)  # the test runs the drain
    yield w
    meta.stop()


def campaign_on(w: World, shop: Shop, ext: str, *products: str, **kwargs: Any) -> Campaign:
    """A Meta campaign of ``shop``'s workspace promoting ``products`` of its store, known to the fake
    (daily budget 10.00, one ad set bidding 2.00)."""
    w.meta.add_campaign(
        META_ACCOUNT[shop.tenant], ext, daily_budget=1000, ad_set_ids=(f"{ext}9",), bid_amount=200
    )
    with schema_context(shop.schema):
        account, _ = AdPlatformAccount.objects.get_or_create(
            platform="meta",
            external_id=META_ACCOUNT[shop.tenant],
            defaults={"name": f"Meta {shop.tenant}", "credentials": json.dumps({"access_token": f"{TOKEN}-{shop.tenant}"})},
        )  # fmt: skip
        campaign = Campaign.objects.create(
            account=account,
            external_id=ext,
            name=f"Campaign {ext}",
            **{"daily_budget_micros": 10_000_000, "bid_micros": 2_000_000, **kwargs},
        )
        for pid in products:
            CampaignProduct.objects.create(campaign=campaign, store_id=shop.store_id, product_platform_id=pid)
        return campaign


def go_live(shop: Shop) -> None:
    with schema_context(shop.schema):
        governance.policy_update(actor=shop.person, reason="Go live for the test", changes={"dry_run": False})


@pytest.fixture
def send(client_post: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """``send(w, shop, topic, payload)``: a signed delivery to the workspace's webhook endpoint, then
    the drain task; returns the endpoint's answer."""

    def _send(
        w: World, shop: Shop, topic: str, payload: dict[str, Any], *, webhook_id: str | None = None
    ) -> dict:
        body = json.dumps(payload).encode()
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOPS[shop.tenant],
            "X-Shopify-Webhook-Id": webhook_id or secrets.token_hex(12),
            "X-Shopify-Event-Id": secrets.token_hex(12),
            "X-Shopify-Api-Version": "2026-10",
            "X-Shopify-Hmac-Sha256": shopify_webhook_signature(SECRET, body),
        }
        answer = client_post(shop.host, body, headers)
        with schema_context(shop.schema), django_capture_on_commit_callbacks(execute=True):
            drain_webhooks.apply().get()
        return answer

    return _send


@pytest.fixture
def client_post(django_capture_on_commit_callbacks: Any) -> Any:
    def _post(host: str, body: bytes, headers: dict[str, str]) -> dict:
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        with django_capture_on_commit_callbacks(execute=True):
            response = Client(HTTP_HOST=host).post(
                "/webhooks/shopify", data=body, content_type="application/json", **extra
            )
        assert response.status_code == 200, response.content
        return response.json()

    return _post


def stock(w: World, shop: Shop, send: Any, pid: str, quantity: int, *, variant: int = 0, webhook_id: str | None = None) -> dict:  # fmt: skip
    """Shopify's ``inventory_levels/update`` for one variant of ``pid``."""
    item = PRODUCTS[pid][variant][1]
    payload = {"inventory_item_id": int(item), "location_id": 1, "available": quantity, "updated_at": "2026-03-01T10:00:00Z"}  # fmt: skip
    return send(w, shop, "inventory_levels/update", payload, webhook_id=webhook_id)


@pytest.fixture
def settle(django_capture_on_commit_callbacks: Any) -> Any:
    """Run every enqueued ``bidding.apply_platform_change`` of ``shop``'s workspace, as a worker would."""

    def _settle(w: World, shop: Shop) -> list[PlatformChange]:
        done = []
        with schema_context(shop.schema):
            while True:
                mine = [c for s, c in w.enqueued if s == shop.schema]
                if not mine:
                    return done
                w.enqueued.remove((shop.schema, mine[0]))
                with django_capture_on_commit_callbacks(execute=True):
                    apply_platform_change.apply(args=[mine[0]]).get()
                done.append(PlatformChange.objects.get(pk=mine[0]))

    return _settle


@pytest.fixture
def request_change(django_capture_on_commit_callbacks: Any) -> Any:
    """A change requested through the outbox by someone else than the breaker (a person, the bidder)."""

    def _request(
        shop: Shop, campaign: Campaign, kind: str, value: int | None = None, *, actor: Actor
    ) -> None:
        with schema_context(shop.schema), django_capture_on_commit_callbacks(execute=True):
            services.campaign_change_request(
                campaign=Campaign.objects.get(pk=campaign.pk),
                kind=kind,
                value_micros=value,
                reason="test",
                actor=actor,
            )

    return _request


def meta_posts(w: World, campaign_ext: str, field_name: str) -> list[str]:
    """The values of ``field_name`` the fake received for this campaign (or its ad set), in order."""
    out = []
    for r in w.meta.mutations:
        if r.path.rsplit("/", 1)[-1] in (campaign_ext, f"{campaign_ext}9"):
            fields = parse_qs(r.body.decode())
            if field_name in fields:
                out.append(fields[field_name][0])
    return out


def audit(object_type: str, object_id: Any = None) -> list[str]:
    entry = django_apps.get_model("governance", "AuditEntry")
    rows = entry.objects.filter(object_type=object_type)
    if object_id is not None:
        rows = rows.filter(object_id=str(object_id))
    return [e.action for e in rows.order_by("sequence")]


def last_event(pid: str) -> InventoryEvent:
    return InventoryEvent.objects.filter(variant__product__platform_id=pid).order_by("-pk").first()


# --- the loop -------------------------------------------------------------------------------------------
def test_out_of_stock_pauses_and_restock_restores_and_resumes_from_signed_webhooks(
    world, send, settle, request_change
):
    w, a, b = world, world.a, world.b
    go_live(a)
    go_live(b)
    campaign = campaign_on(w, a, "6101", "7001")
    other = campaign_on(w, b, "6201", "7001")  # tenant b promotes its own product 7001

    assert stock(w, a, send, "7001", 0) == {"status": "accepted"}
    with schema_context(a.schema):
        hold = InventoryHold.objects.get(campaign=campaign)
        event = last_event("7001")
        assert (hold.state, hold.store_id, hold.product_platform_id) == (HoldState.HELD, a.store_id, "7001")
        assert (hold.previous_daily_budget_micros, hold.previous_bid_micros) == (10_000_000, 2_000_000)
        assert hold.inventory_event_id == event.pk
        assert not event.in_stock
        pause = PlatformChange.objects.get(campaign=campaign)
        assert (pause.kind, pause.key, pause.status) == (
            "pause",
            f"inventory:{event.pk}:{campaign.pk}:pause",
            "queued",
        )
        assert pause.requested_by == "system:celery:bidding.inventory_breaker"
    assert w.meta.mutations == []  # nothing reaches a platform from the webhook's path itself
    assert [c.status for c in settle(w, a)] == [ChangeStatus.SENT]
    assert w.meta.campaigns["6101"].status == "PAUSED"
    assert meta_posts(w, "6101", "status") == ["PAUSED"]
    with schema_context(a.schema):
        campaign.refresh_from_db()
        assert (campaign.status, campaign.paused_by) == (Campaign.Status.PAUSED, Campaign.PausedBy.INVENTORY)
    # Automation (pacing, the bidder) changes budget and bid while the campaign waits.
    request_change(a, campaign, "set_budget", 5_000_000, actor=BIDDER)
    request_change(a, campaign, "set_bid", 1_500_000, actor=BIDDER)
    settle(w, a)
    assert (w.meta.campaigns["6101"].daily_budget, w.meta.campaigns["6101"].ad_sets[0].bid_amount) == (
        500,
        150,
    )

    assert stock(w, a, send, "7001", 12) == {"status": "accepted"}
    with schema_context(a.schema):
        restock = last_event("7001")
        queued = list(PlatformChange.objects.filter(status="queued").order_by("pk"))
        assert [(c.kind, c.value_micros, c.key) for c in queued] == [
            ("set_budget", 10_000_000, f"inventory:{restock.pk}:{campaign.pk}:{hold.pk}:budget"),
            ("set_bid", 2_000_000, f"inventory:{restock.pk}:{campaign.pk}:{hold.pk}:bid"),
            ("resume", None, f"inventory:{restock.pk}:{campaign.pk}:{hold.pk}:resume"),
        ]
    assert [c.status for c in settle(w, a)] == [ChangeStatus.SENT] * 3
    fake = w.meta.campaigns["6101"]
    assert (fake.status, fake.daily_budget, fake.ad_sets[0].bid_amount) == ("ACTIVE", 1000, 200)
    assert meta_posts(w, "6101", "status") == ["PAUSED", "ACTIVE"]
    with schema_context(a.schema):
        campaign.refresh_from_db()
        assert (campaign.status, campaign.paused_by) == (Campaign.Status.ACTIVE, "")
        assert (campaign.daily_budget_micros, campaign.bid_micros) == (10_000_000, 2_000_000)
        hold.refresh_from_db()
        assert hold.state == HoldState.RELEASED
        assert hold.released_at is not None
        assert "budget 10.00 and bid 2.00 restored" in hold.note
        assert audit("bidding.inventoryhold", hold.pk) == ["inventory.hold", "inventory.release"]
        assert audit("bidding.campaign", campaign.pk) == [
            "campaign.pause", "campaign.set_budget", "campaign.set_bid", "campaign.set_budget", "campaign.set_bid", "campaign.resume",
        ]  # fmt: skip
    # The Admins were told each step.
    assert [m.to for m in mail.outbox] == [[a.admin_email], [a.admin_email]]
    assert "1 campaign paused (out of stock)" in mail.outbox[0].subject
    assert "Campaign 6101" in mail.outbox[0].body
    assert "budget 10.00" in mail.outbox[0].body
    assert "1 campaign resumed (back in stock)" in mail.outbox[1].subject
    # The other workspace promotes a product of the same id in its own store: untouched.
    with schema_context(b.schema):
        assert not InventoryHold.objects.exists()
        assert not PlatformChange.objects.exists()
        assert Campaign.objects.get(pk=other.pk).status == Campaign.Status.ACTIVE
        assert audit("bidding.inventoryhold") == []
    assert w.meta.campaigns["6201"].status == "ACTIVE"
    assert meta_posts(w, "6201", "status") == []


def test_a_persons_pause_during_the_hold_is_never_undone(world, send, settle, request_change):
    w, a = world, world.a
    go_live(a)
    campaign = campaign_on(w, a, "6102", "7001")
    stock(w, a, send, "7001", 0)
    settle(w, a)
    request_change(a, campaign, "pause", actor=a.person)
    settle(w, a)
    with schema_context(a.schema):
        campaign.refresh_from_db()
        assert campaign.paused_by_person

    stock(w, a, send, "7001", 4)
    with schema_context(a.schema):
        hold = InventoryHold.objects.get(campaign=campaign)
        assert hold.state == HoldState.ABANDONED
        assert "a person paused it" in hold.note
        assert not PlatformChange.objects.filter(kind__in=["resume", "set_budget", "set_bid"]).exists()
        assert audit("bidding.inventoryhold", hold.pk) == ["inventory.hold", "inventory.abandon"]
        campaign.refresh_from_db()
        assert (campaign.status, campaign.paused_by) == (Campaign.Status.PAUSED, Campaign.PausedBy.PERSON)
        assert review_inventory_holds.apply().get() == "nothing to do"  # the hourly review leaves it too
    assert settle(w, a) == []
    assert w.meta.campaigns["6102"].status == "PAUSED"
    assert meta_posts(w, "6102", "status") == ["PAUSED", "PAUSED"]  # the breaker's, then the person's
    assert "not resumed (a person paused or changed it)" in mail.outbox[-1].subject


def test_a_persons_budget_change_during_the_hold_means_no_automatic_resume(
    world, send, settle, request_change
):
    w, a = world, world.a
    go_live(a)
    campaign = campaign_on(w, a, "6103", "7002")
    stock(w, a, send, "7002", 0)
    settle(w, a)
    request_change(a, campaign, "set_budget", 30_000_000, actor=a.person)
    settle(w, a)
    stock(w, a, send, "7002", 3)
    with schema_context(a.schema):
        hold = InventoryHold.objects.get(campaign=campaign)
        assert (hold.state, "a person changed it meanwhile (set_budget)" in hold.note) == (
            HoldState.ABANDONED,
            True,
        )
        assert not PlatformChange.objects.filter(kind="resume").exists()
        assert Campaign.objects.get(pk=campaign.pk).daily_budget_micros == 30_000_000  # the person's, kept
    assert w.meta.campaigns["6103"].status == "PAUSED"


# --- dry run --------------------------------------------------------------------------------------------
def test_dry_run_records_holds_and_decisions_and_sends_nothing(world, send, settle):
    w, b = world, world.b  # a new workspace: dry run
    campaign = campaign_on(w, b, "6201", "7001")
    stock(w, b, send, "7001", 0)
    with schema_context(b.schema):
        assert governance.policy_current().dry_run is True
        hold = InventoryHold.objects.get(campaign=campaign)
        assert hold.state == HoldState.HELD
    assert [c.status for c in settle(w, b)] == [ChangeStatus.DRY_RUN]
    with schema_context(b.schema):
        assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.ACTIVE  # nothing was sent
    stock(w, b, send, "7001", 2)
    with schema_context(b.schema):
        hold.refresh_from_db()
        assert hold.state == HoldState.RELEASED
        assert [c.status for c in settle(w, b)] == [ChangeStatus.DRY_RUN]  # the resume, recorded
        assert list(PlatformChange.objects.order_by("pk").values_list("kind", "status")) == [
            ("pause", "dry_run"),
            ("resume", "dry_run"),
        ]
        assert audit("bidding.inventoryhold", hold.pk) == ["inventory.hold", "inventory.release"]
    assert w.meta.calls == []  # the platform saw nothing at all
    assert w.retries == []
    assert len(mail.outbox) == 2
    assert all("dry run" in m.body for m in mail.outbox)


# --- idempotency ----------------------------------------------------------------------------------------
def test_a_duplicated_webhook_or_a_replayed_transition_pauses_once(world, send, settle):
    w, a = world, world.a
    go_live(a)
    campaign = campaign_on(w, a, "6104", "7001")
    assert stock(w, a, send, "7001", 0, webhook_id="dup-1") == {"status": "accepted"}
    assert stock(w, a, send, "7001", 0, webhook_id="dup-1") == {"status": "duplicate"}  # Shopify retrying
    stock(w, a, send, "7001", 0, webhook_id="dup-2")  # another delivery, same level: no transition
    with schema_context(a.schema):
        event = last_event("7001")
        transition = catalog.InventoryTransition(
            schema=a.schema, store_id=a.store_id, product_id=event.variant.product_id, product_platform_id="7001",
            variant_id=event.variant_id, variant_platform_id="71", sku="", in_stock=False, previous_quantity=5,
            new_quantity=0, occurred_at=event.occurred_at, event_id=event.pk,
        )  # fmt: skip
    receivers.breaker_on_stock_transition(transition)  # the same transition delivered again
    with schema_context(a.schema):
        assert InventoryEvent.objects.filter(variant__product__platform_id="7001").count() == 1
        assert InventoryHold.objects.filter(campaign=campaign).count() == 1
        assert PlatformChange.objects.filter(kind="pause").count() == 1
    settle(w, a)
    receivers.breaker_on_stock_transition(transition)  # and once more after the pause was sent
    assert settle(w, a) == []
    assert meta_posts(w, "6104", "status") == ["PAUSED"]
    stock(w, a, send, "7001", 8, webhook_id="up-1")
    stock(w, a, send, "7001", 8, webhook_id="up-1")
    with schema_context(a.schema):
        up = last_event("7001")
        assert services.inventory_breaker_apply(store_id=a.store_id, product_platform_id="7001", event_id=up.pk) == services.BreakerOutcome()  # fmt: skip
        assert PlatformChange.objects.filter(kind="resume").count() == 1
        assert audit("bidding.inventoryhold") == ["inventory.hold", "inventory.release"]
    settle(w, a)
    assert meta_posts(w, "6104", "status") == ["PAUSED", "ACTIVE"]
    assert len(mail.outbox) == 2


# --- what decides a pause -------------------------------------------------------------------------------
def test_a_campaign_promoting_two_products_stays_paused_until_both_are_back(world, send, settle):
    w, a = world, world.a
    go_live(a)
    campaign = campaign_on(w, a, "6105", "7001", "7002")
    stock(w, a, send, "7001", 0)
    stock(w, a, send, "7002", 0)  # already held: no second hold, no second pause
    settle(w, a)
    with schema_context(a.schema):
        hold = InventoryHold.objects.get(campaign=campaign)
        assert hold.product_platform_id == "7001"
        assert PlatformChange.objects.filter(kind="pause").count() == 1
    assert w.retries == []  # nothing failed on the way
    stock(w, a, send, "7001", 6)
    with schema_context(a.schema):
        hold.refresh_from_db()
        assert hold.state == HoldState.HELD
        assert hold.note == f"Waiting for stock of 7002 (store {a.store_id})."
        assert not PlatformChange.objects.filter(kind="resume").exists()
    # products/update (the whole product, its variants' quantities) brings the second one back.
    send(w, a, "products/update", {"id": 7002, "title": "Product 7002", "status": "active",
         "variants": [{"id": 72, "inventory_item_id": 8072, "inventory_quantity": 9, "price": "5.00"}]})  # fmt: skip
    with schema_context(a.schema):
        hold.refresh_from_db()
        assert hold.state == HoldState.RELEASED
    settle(w, a)
    assert meta_posts(w, "6105", "status") == ["PAUSED", "ACTIVE"]


def test_one_variant_out_while_another_is_in_stock_pauses_nothing(world, send, settle):
    w, a = world, world.a
    go_live(a)
    campaign = campaign_on(w, a, "6106", "7003")
    stock(w, a, send, "7003", 0, variant=0)
    with schema_context(a.schema):
        assert stores_selectors.product_in_stock(store_id=a.store_id, product_platform_id="7003")
        assert not InventoryHold.objects.exists()
        assert not PlatformChange.objects.exists()
    stock(w, a, send, "7003", 0, variant=1)  # the last one: now the product is out
    with schema_context(a.schema):
        assert not stores_selectors.product_in_stock(store_id=a.store_id, product_platform_id="7003")
        assert InventoryHold.objects.get().campaign_id == campaign.pk


def test_campaigns_already_paused_are_not_touched(world, send, settle):
    w, a = world, world.a
    go_live(a)
    by_person = campaign_on(
        w, a, "6107", "7001", status="paused", paused_by="person", paused_by_actor="user:x"
    )
    by_bidder = campaign_on(w, a, "6108", "7001", status="paused", paused_by="automation")
    live = campaign_on(w, a, "6109", "7001")
    stock(w, a, send, "7001", 0)
    with schema_context(a.schema):
        assert list(InventoryHold.objects.values_list("campaign_id", flat=True)) == [live.pk]
        assert not PlatformChange.objects.filter(campaign__in=[by_person, by_bidder]).exists()


def test_the_kill_switch_allows_the_pause_and_holds_the_resume_until_it_is_lifted(
    world, send, settle, django_capture_on_commit_callbacks
):
    w, a = world, world.a
    go_live(a)
    with schema_context(a.schema):
        governance.policy_update(actor=a.person, reason="Stop everything", changes={"kill_switch": True})
    campaign = campaign_on(w, a, "6110", "7001")
    stock(w, a, send, "7001", 0)
    settle(w, a)
    assert w.meta.campaigns["6110"].status == "PAUSED"  # pausing only lowers spend: always allowed
    stock(w, a, send, "7001", 5)
    with schema_context(a.schema):
        hold = InventoryHold.objects.get(campaign=campaign)
        event = last_event("7001")
        assert hold.state == HoldState.HELD
        assert hold.note.startswith(f"Resume refused on {event.pk}: kill_switch")
        assert not PlatformChange.objects.filter(kind="resume").exists()
        again = services.inventory_breaker_apply(
            store_id=a.store_id, product_platform_id="7001", event_id=event.pk
        )
        assert again.refused == (campaign.pk,)
        assert audit("bidding.inventoryhold", hold.pk) == [
            "inventory.hold",
            "inventory.release_refused",
        ]  # once
        assert "still paused (the policy refused the resume)" in mail.outbox[-1].subject
        assert "kill switch" in mail.outbox[-1].body
        governance.policy_update(actor=a.person, reason="Resume automation", changes={"kill_switch": False})
        with django_capture_on_commit_callbacks(execute=True):
            assert review_inventory_holds.apply().get() == "released 1"  # beat's hourly review
        hold.refresh_from_db()
        assert hold.state == HoldState.RELEASED
        assert (
            PlatformChange.objects.get(kind="resume").key
            == f"inventory:review:{campaign.pk}:{hold.pk}:resume"
        )
    settle(w, a)
    assert w.meta.campaigns["6110"].status == "ACTIVE"


# --- failures -------------------------------------------------------------------------------------------
def test_a_failing_breaker_is_queued_for_a_retry_and_the_retry_pauses(
    world, send, settle, monkeypatch, django_capture_on_commit_callbacks
):
    w, a = world, world.a
    go_live(a)
    campaign = campaign_on(w, a, "6111", "7001")
    real = services.inventory_breaker_apply

    def down(**kwargs: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "inventory_breaker_apply", down)
    stock(w, a, send, "7001", 0)
    with schema_context(a.schema):
        event = last_event("7001")
        assert not InventoryHold.objects.exists()
        assert w.retries == [(a.schema, [a.store_id, "7001", event.pk])]
        monkeypatch.setattr(services, "inventory_breaker_apply", real)
        with django_capture_on_commit_callbacks(execute=True):
            assert apply_inventory_breaker.apply(args=w.retries[0][1]).get() == "held 1"
        assert InventoryHold.objects.get().campaign_id == campaign.pk
    settle(w, a)
    assert w.meta.campaigns["6111"].status == "PAUSED"


def test_a_mail_that_fails_changes_nothing(world, send, settle, monkeypatch):
    w, a = world, world.a
    go_live(a)
    campaign_on(w, a, "6112", "7001")

    def broken(*args: Any, **kwargs: Any) -> int:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("apps.bidding.services.inventory.send_mail", broken)
    stock(w, a, send, "7001", 0)
    settle(w, a)
    assert w.meta.campaigns["6112"].status == "PAUSED"
    assert w.retries == []  # the breaker itself did not fail


# --- the stock selectors --------------------------------------------------------------------------------
def test_stock_selectors_answer_for_their_workspace_only(world, send):
    w, a, b = world, world.a, world.b
    stock(w, a, send, "7002", 0)
    with schema_context(a.schema):
        assert not stores_selectors.product_in_stock(store_id=a.store_id, product_platform_id="7002")
        assert stores_selectors.products_without_stock(
            products={(a.store_id, "7001"), (a.store_id, "7002"), (a.store_id, "unknown")}
        ) == {(a.store_id, "7002")}
    with schema_context(b.schema):
        assert stores_selectors.product_in_stock(store_id=b.store_id, product_platform_id="7002")
        assert stores_selectors.products_without_stock(products={(b.store_id, "7002")}) == set()
        # tenant a's store id means nothing here (b's store of that id, if any, is b's own).
        assert not stores_selectors.product_in_stock(store_id=a.store_id + 1000, product_platform_id="7002")
    with schema_context(get_public_schema_name()):
        with pytest.raises(TenantRequired):
            stores_selectors.product_in_stock(store_id=a.store_id, product_platform_id="7002")
        with pytest.raises(TenantRequired):
            stores_selectors.products_without_stock(products={(a.store_id, "7002")})
        with pytest.raises(TenantRequired):
            services.inventory_breaker_apply(store_id=a.store_id, product_platform_id="7002", event_id=1)
