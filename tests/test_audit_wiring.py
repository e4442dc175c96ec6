"""Every existing change of a workspace writes its audit entry, through the real entry points, two
tenants present: signup, users and roles (API and admin), API keys, secrets and the key rotation,
workspace settings and status, store connections (create, the three connect flows, the connect task,
a token refresh, uninstall, redact) and LTV model promotions.

Each test checks the new entries of the chain (action, actor, object, before/after), that the chain
still verifies, that no secret, token, key or password appears anywhere in it, that a refused change
writes nothing, and that the other workspace's chain did not move."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from apps.core.actor import Actor
from apps.core.crypto import generate_key
from apps.governance import chain
from apps.governance import services as governance
from apps.governance.errors import GovernanceError
from apps.governance.models import ApiKey, AuditEntry, Secret
from apps.governance.tenancy.errors import TenancyError
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.services import tenant_set_status
from apps.stores.integrations.bigcommerce.fake import FakeBigCommerce
from apps.stores.integrations.fakes.store import FakeStore
from apps.stores.integrations.shopify.fake import FakeShopify
from apps.stores.models import StoreConnection, WebhookDelivery
from apps.stores.services import connections, sync, webhooks
from conftest import PASSWORD, api_client_for

NEW_PASSWORD = "Another-Horse-77-stapler"
SECRET_VALUE = "shpss_live_0a1b2c3d4e5f-audit-secret"
ROTATED_VALUE = "shpss_live_9z8y7x6w5v4u-rotated-secret"
SHOP = "audit.myshopify.com"
BC_HASH = "auditbc7"
WOO = {
    "consumer_key": "ck_" + "1" * 40,
    "consumer_secret": "cs_" + "2" * 40,
}


# --- helpers -----------------------------------------------------------------------------------------
def head(schema: str) -> int:
    with schema_context(schema):
        last = AuditEntry.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    return int(last or 0)


def since(schema: str, base: int, *, object_type: str | None = None) -> list[AuditEntry]:
    with schema_context(schema):
        rows = AuditEntry.objects.filter(sequence__gt=base).order_by("sequence")
        if object_type is not None:
            rows = rows.filter(object_type=object_type)
        return list(rows)


def actions(entries: list[AuditEntry]) -> list[str]:
    return [e.action for e in entries]


def verified(schema: str) -> None:
    with schema_context(schema):
        verdict = governance.audit_verify_chain(actor=Actor.system("tests"))
    assert verdict.ok, verdict


def assert_secret_free(schema: str, *secrets: str) -> None:
    """No secret in any field of any entry of the chain (the JSON of before/after included)."""
    with schema_context(schema):
        rows = list(AuditEntry.objects.order_by("sequence").values())
    text = json.dumps(rows, default=str)
    assert rows
    for secret in secrets:
        assert secret, "a secret to look for"
        assert secret not in text, secret


def user_pk(info: Any, email: str) -> int:
    with schema_context(info.schema):
        return int(get_user_model().objects.get(username=email).pk)


def admin_session(info: Any, host: str | None = None) -> Client:
    client = Client(HTTP_HOST=host or info.host)
    with schema_context(info.schema):
        assert client.login(username=info.admin_email, password=info.password)
    return client


def by_user(entry: AuditEntry, info: Any) -> bool:
    return (entry.actor_kind, entry.actor_id, entry.actor_name) == (
        "user",
        str(user_pk(info, info.admin_email)),
        info.admin_email,
    )


@pytest.fixture
def admin_api(tenants, login_token) -> Any:
    return api_client_for(tenants.a.host, token=login_token(tenants.a, tenants.a.admin_email))


# --- signup and the workspace ------------------------------------------------------------------------
def test_signup_starts_the_new_workspaces_chain_and_writes_nothing_elsewhere(tenants):
    heads = {info.schema: head(info.schema) for info in tenants}
    public = api_client_for("localhost")
    refused = public.post(
        "/api/v1/signup",
        {"name": "Delta", "slug": "delta", "admin_email": "ops@delta.test", "password": "short"},
        format="json",
    )
    assert refused.status_code == 400
    assert not schema_exists("delta")

    created = public.post(
        "/api/v1/signup",
        {"name": "Gamma Goods", "slug": "gamma", "admin_email": "Ops@Gamma.test", "password": PASSWORD},
        format="json",
    )
    assert created.status_code == 201, created.content
    tenant = Tenant.objects.get(slug="gamma")
    first, second = since(tenant.schema_name, 0)  # exactly two entries: the chain's start
    assert (first.sequence, first.action, first.prev_hash) == (1, "workspace.create", chain.GENESIS_HASH)
    assert (first.object_type, first.object_id) == ("tenancy.tenant", str(tenant.pk))
    assert first.actor_kind == "system"
    assert first.actor_id.startswith("signup:api:")
    assert first.before is None
    assert first.after["slug"] == "gamma"
    assert first.after["name"] == "Gamma Goods"
    assert first.after["domain"] == "gamma.localhost"
    assert first.after["dry_run"] is True  # every new workspace starts in dry run
    assert (second.sequence, second.action, second.prev_hash) == (2, "user.create", first.hash)
    assert second.actor_id == first.actor_id
    with schema_context(tenant.schema_name):
        admin = get_user_model().objects.get(username="ops@gamma.test")
    assert (second.object_type, second.object_id) == ("auth.user", str(admin.pk))
    assert second.after["role"] == "admin"
    assert second.after["email"] == "ops@gamma.test"
    assert second.after["password"] == "set"
    verified(tenant.schema_name)
    assert_secret_free(tenant.schema_name, PASSWORD, admin.password)
    assert {info.schema: head(info.schema) for info in tenants} == heads


def test_workspace_settings_are_audited_with_the_changed_fields(tenants, admin_api):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    bad = admin_api.patch("/api/v1/workspace", {"timezone": "Mars/Olympus", "name": "X"}, format="json")
    assert bad.status_code == 400
    assert since(a.schema, base_a) == []

    r = admin_api.patch(
        "/api/v1/workspace",
        {"name": "Alpha Renamed", "timezone": "Europe/Paris", "currency": "usd"},
        format="json",
    )
    assert r.status_code == 200, r.content
    [entry] = since(a.schema, base_a)
    assert entry.action == "workspace.update"
    assert (entry.object_type, entry.object_id) == ("tenancy.tenant", str(Tenant.objects.get(slug=a.slug).pk))
    assert by_user(entry, a)
    # Only what changed (the currency was USD already).
    assert entry.before == {"name": "Alpha Ltd", "timezone": "UTC"}
    assert entry.after == {"name": "Alpha Renamed", "timezone": "Europe/Paris"}
    same = admin_api.patch("/api/v1/workspace", {"name": "Alpha Renamed"}, format="json")
    assert same.status_code == 200
    assert len(since(a.schema, base_a)) == 1  # nothing changed, nothing recorded

    # Leaving dry run goes through the policy, in the same request: its own entry.
    live = admin_api.patch("/api/v1/workspace", {"dry_run": False, "reason": "go live"}, format="json")
    assert live.status_code == 200, live.content
    assert "policy.update" in actions(since(a.schema, base_a))
    verified(a.schema)
    assert since(b.schema, base_b) == []


def test_suspending_and_reactivating_a_workspace_is_in_its_own_chain(tenants):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    staff = Actor(kind="user", id="1", name="staff@kiki.test")
    tenant = Tenant.objects.get(slug=a.slug)
    with pytest.raises(TenancyError):
        tenant_set_status(tenant=tenant, status="frozen", actor=staff)
    assert since(a.schema, base_a) == []
    tenant_set_status(tenant=tenant, status=Tenant.Status.SUSPENDED, reason="unpaid invoice", actor=staff)
    tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=staff)
    suspended, reactivated = since(a.schema, base_a)
    assert actions([suspended, reactivated]) == ["workspace.suspend", "workspace.reactivate"]
    assert (suspended.actor_kind, suspended.actor_id, suspended.actor_name) == (
        "user",
        "1",
        "staff@kiki.test",
    )
    assert suspended.before == {"slug": a.slug, "status": "active", "suspended_reason": ""}
    assert suspended.after == {"slug": a.slug, "status": "suspended", "suspended_reason": "unpaid invoice"}
    assert reactivated.after == {"slug": a.slug, "status": "active", "suspended_reason": ""}
    tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=staff)  # already active
    assert len(since(a.schema, base_a)) == 2
    assert connection.schema_name == "public"
    verified(a.schema)
    assert since(b.schema, base_b) == []


# --- users and roles ----------------------------------------------------------------------------------
def test_users_and_roles_over_the_api(tenants, admin_api, login_token):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    # Refused changes write nothing.
    assert (
        admin_api.post("/api/v1/users", {"email": "nope", "role": "analyst"}, format="json").status_code
        == 400
    )
    dup = admin_api.post("/api/v1/users", {"email": a.analyst_email, "role": "admin"}, format="json")
    assert dup.status_code == 409
    me = user_pk(a, a.admin_email)
    demote_self = admin_api.patch(f"/api/v1/users/{me}", {"role": "analyst"}, format="json")
    assert demote_self.status_code == 400
    assert since(a.schema, base_a) == []

    created = admin_api.post(
        "/api/v1/users",
        {"email": "New@Alpha.test", "role": "analyst", "password": NEW_PASSWORD, "first_name": "Nia"},
        format="json",
    )
    assert created.status_code == 201, created.content
    uid = created.json()["id"]
    assert admin_api.patch(f"/api/v1/users/{uid}", {"role": "admin"}, format="json").status_code == 200
    assert admin_api.patch(f"/api/v1/users/{uid}", {"role": "admin"}, format="json").status_code == 200
    assert admin_api.patch(f"/api/v1/users/{uid}", {"is_active": False}, format="json").status_code == 200

    entries = since(a.schema, base_a)
    assert actions(entries) == ["user.create", "user.set_role", "user.deactivate"]  # the no-op role: none
    assert all(by_user(e, a) for e in entries)
    assert {(e.object_type, e.object_id) for e in entries} == {("auth.user", str(uid))}
    create, role, deactivate = entries
    assert create.before is None
    assert create.after == {
        "username": "new@alpha.test",
        "email": "new@alpha.test",
        "first_name": "Nia",
        "last_name": "",
        "role": "analyst",
        "is_active": True,
        "password": "set",
    }
    assert (role.before, role.after) == (
        {"username": "new@alpha.test", "role": "analyst"},
        {"username": "new@alpha.test", "role": "admin"},
    )
    assert deactivate.before == {"username": "new@alpha.test", "is_active": True}
    assert deactivate.after["is_active"] is False
    verified(a.schema)
    with schema_context(a.schema):
        hashed = get_user_model().objects.get(pk=uid).password
    assert_secret_free(a.schema, NEW_PASSWORD, hashed, PASSWORD)
    assert since(b.schema, base_b) == []


def test_people_changed_in_the_admin_are_audited_through_the_services(tenants):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    admin = admin_session(a)
    added = admin.post(
        "/admin/auth/user/add/",
        {"email": "Invited@Alpha.test", "role": "analyst", "initial_password": "", "first_name": "In"},
    )
    assert added.status_code == 302, added.content[:2000]
    invited = user_pk(a, "invited@alpha.test")
    own = user_pk(a, a.admin_email)
    refused = admin.post(f"/admin/auth/user/{own}/change/", {"role": "analyst", "is_active": "on"})
    assert refused.status_code == 200  # the form shows the refusal
    assert actions(since(a.schema, base_a)) == ["user.create"]

    change = f"/admin/auth/user/{invited}/change/"
    form = {"role": "admin", "is_active": "on", "first_name": "Ina", "last_name": "Vited"}
    assert admin.post(change, form).status_code == 302
    assert admin.post(change, {**form, "is_active": ""}).status_code == 302
    assert admin.post(change, form).status_code == 302
    entries = since(a.schema, base_a)
    assert actions(entries) == [
        "user.create",
        "user.set_role",
        "user.update",
        "user.deactivate",
        "user.reactivate",
    ]
    assert all(by_user(e, a) for e in entries)
    assert entries[0].after["password"] == "unusable"  # an invitation
    assert entries[2].before == {"username": "invited@alpha.test", "first_name": "In", "last_name": ""}
    assert entries[2].after == {"username": "invited@alpha.test", "first_name": "Ina", "last_name": "Vited"}
    assert (entries[4].before["is_active"], entries[4].after["is_active"]) == (False, True)
    verified(a.schema)
    assert since(b.schema, base_b) == []


# --- API keys -----------------------------------------------------------------------------------------
def test_api_keys_are_audited_by_prefix_never_by_value(tenants, admin_api):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    assert (
        admin_api.post("/api/v1/api-keys", {"name": " ", "role": "admin"}, format="json").status_code == 400
    )
    past = admin_api.post(
        "/api/v1/api-keys",
        {"name": "old", "role": "admin", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert past.status_code == 400
    assert since(a.schema, base_a) == []

    issued = admin_api.post("/api/v1/api-keys", {"name": "ops", "role": "admin"}, format="json").json()
    integration = api_client_for(a.host, api_key=issued["key"])
    by_key = integration.post("/api/v1/api-keys", {"name": "reporting", "role": "analyst"}, format="json")
    assert by_key.status_code == 201, by_key.content
    revoke = f"/api/v1/api-keys/{by_key.json()['id']}/revoke"
    assert admin_api.post(revoke).status_code == 200
    assert admin_api.post(revoke).status_code == 200  # revoked already: nothing new

    created, created_by_key, revoked = since(a.schema, base_a)
    assert actions([created, created_by_key, revoked]) == ["apikey.create", "apikey.create", "apikey.revoke"]
    assert by_user(created, a)
    assert (created.object_type, created.object_id) == ("governance.apikey", str(issued["id"]))
    assert created.after == {
        "name": "ops",
        "prefix": issued["prefix"],
        "role": "admin",
        "expires_at": None,
        "revoked_at": None,
    }
    # An integration's key is an actor of its own, named by its prefix.
    assert (created_by_key.actor_kind, created_by_key.actor_id, created_by_key.actor_name) == (
        "api_key",
        issued["prefix"],
        "ops",
    )
    assert created_by_key.after["role"] == "analyst"
    assert revoked.before["revoked_at"] is None
    assert revoked.after["revoked_at"] is not None
    assert by_user(revoked, a)
    verified(a.schema)
    with schema_context(a.schema):
        hashes = list(ApiKey.objects.values_list("key_hash", flat=True))
    assert_secret_free(a.schema, issued["key"], by_key.json()["key"], *hashes)
    assert since(b.schema, base_b) == []


# --- secrets and the key rotation ---------------------------------------------------------------------
def test_secrets_are_audited_by_name_never_by_value(tenants):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    admin = admin_session(a)
    empty = admin.post("/admin/governance/secret/add/", {"name": "app", "kind": "generic", "value": ""})
    assert empty.status_code == 200  # "A new secret needs a value."
    with schema_context(a.schema), pytest.raises(GovernanceError):
        governance.secret_set(name="app", value="", actor=Actor.system("tests"))
    assert since(a.schema, base_a) == []

    added = admin.post(
        "/admin/governance/secret/add/",
        {"name": "app", "kind": "shopify", "description": "App secret", "value": SECRET_VALUE},
    )
    assert added.status_code == 302, added.content[:2000]
    with schema_context(a.schema):
        pk = Secret.objects.get(name="app").pk
    change = f"/admin/governance/secret/{pk}/change/"
    rotate = admin.post(
        change, {"name": "app", "kind": "shopify", "description": "App secret", "value": ROTATED_VALUE}
    )
    assert rotate.status_code == 302
    described = admin.post(
        change, {"name": "app", "kind": "shopify", "description": "Rotated in May", "value": ""}
    )
    assert described.status_code == 302

    entries = since(a.schema, base_a)
    assert actions(entries) == ["secret.create", "secret.rotate", "secret.update"]
    assert all(
        by_user(e, a) and (e.object_type, e.object_id) == ("governance.secret", str(pk)) for e in entries
    )
    create, rotated, updated = entries
    assert create.after == {"name": "app", "kind": "shopify", "description": "App secret", "value": "set"}
    assert rotated.before == {"name": "app", "kind": "shopify", "description": "App secret"}
    assert rotated.after["value"] == "rotated"
    assert (updated.before["description"], updated.after["description"]) == ("App secret", "Rotated in May")
    assert updated.after["value"] == "unchanged"
    with schema_context(a.schema):
        assert Secret.objects.get(pk=pk).value == ROTATED_VALUE  # the value stayed
    verified(a.schema)
    assert_secret_free(a.schema, SECRET_VALUE, ROTATED_VALUE)
    assert since(b.schema, base_b) == []


def test_key_rotation_writes_one_entry_per_workspace_it_touched(tenants, settings, capsys):
    a, b = tenants
    for info in tenants:
        with schema_context(info.schema):
            governance.secret_set(
                name="token", value=f"{SECRET_VALUE}-{info.slug}", actor=Actor.system("tests")
            )
    heads = {info.schema: head(info.schema) for info in tenants}
    new_key = generate_key()
    settings.KIKI_ENCRYPTION_KEYS = f"new2:{new_key},{settings.KIKI_ENCRYPTION_KEYS}"
    call_command("rotate_encryption_key")
    assert "re-encrypted" in capsys.readouterr().out
    for info in tenants:
        [entry] = since(info.schema, heads[info.schema])
        assert entry.action == "encryption_key.rotate"
        assert (entry.object_type, entry.object_id) == ("core.encryptionkey", "new2")
        assert (entry.actor_kind, entry.actor_id) == ("system", "cli:rotate_encryption_key")
        assert entry.after["key_id"] == "new2"
        assert entry.after["fields"]["governance.secret.value"] >= 1
        assert entry.after["reencrypted"] == sum(entry.after["fields"].values())
        assert sum(entry.before["key_ids"].values()) == entry.after["reencrypted"]
        assert "new2" not in entry.before["key_ids"]
        verified(info.schema)
        assert_secret_free(info.schema, f"{SECRET_VALUE}-{info.slug}", new_key)
    call_command("rotate_encryption_key")  # nothing left to move: nothing recorded
    for info in tenants:
        assert len(since(info.schema, heads[info.schema])) == 1
    with connection.cursor() as cur:  # the template every new workspace is cloned from stays empty
        cur.execute(f'SELECT count(*) FROM "{django_settings.TENANT_BASE_SCHEMA}".governance_auditentry')
        assert cur.fetchone()[0] == 0


# --- store connections --------------------------------------------------------------------------------
def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_a_store_created_over_the_api_is_audited(tenants, admin_api):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    bad = admin_api.post("/api/v1/stores", {"name": "Web shop", "currency": "dollars"}, format="json")
    assert bad.status_code == 400
    assert since(a.schema, base_a) == []
    store = admin_api.post("/api/v1/stores", {"name": "Web shop", "currency": "eur"}, format="json").json()
    [entry] = since(a.schema, base_a)
    assert (entry.action, entry.object_type, entry.object_id) == (
        "store.create",
        "stores.storeconnection",
        str(store["id"]),
    )
    assert by_user(entry, a)
    assert entry.before is None
    assert entry.after["platform"] == "manual"
    assert (entry.after["name"], entry.after["currency"], entry.after["status"]) == (
        "Web shop",
        "EUR",
        "active",
    )
    assert entry.after["credentials"] == "none"
    verified(a.schema)
    assert since(b.schema, base_b) == []


def test_woocommerce_keys_pasted_over_the_api_are_audited_without_them(tenants, admin_api):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    body = {"platform": "woocommerce", "store_url": "https://shop.example.com", **WOO}
    bad = admin_api.post("/api/v1/stores/connect", {**body, "consumer_secret": "nope"}, format="json")
    assert bad.status_code == 400
    assert since(a.schema, base_a) == []
    r = admin_api.post("/api/v1/stores/connect", body, format="json")
    assert r.status_code == 202, r.content
    [entry] = since(a.schema, base_a)
    assert entry.action == "store.connect"
    assert by_user(entry, a)
    assert entry.before is None
    assert entry.after["platform"] == "woocommerce"
    assert entry.after["shop_domain"] == "https://shop.example.com"
    assert entry.after["status"] == "connecting"
    assert entry.after["credentials"] == "set"
    assert entry.after["credential_keys"] == ["consumer_key", "consumer_secret"]
    assert entry.after["webhook_secret"] == "set"
    with schema_context(a.schema):
        webhook_secret = StoreConnection.objects.get(pk=r.json()["store"]["id"]).webhook_secret
    verified(a.schema)
    assert_secret_free(a.schema, WOO["consumer_key"], WOO["consumer_secret"], webhook_secret)
    assert since(b.schema, base_b) == []


@pytest.fixture
def shopify(settings) -> Iterator[FakeShopify]:
    fake = FakeShopify()
    fake.add_shop(SHOP, FakeStore.generate(orders=24, customers=8, products=3, seed=11, domain="audit"))
    with fake.server:
        settings.KIKI_SHOPIFY_CLIENT_ID = fake.client_id
        settings.KIKI_SHOPIFY_CLIENT_SECRET = fake.client_secret
        settings.KIKI_SHOPIFY_API_BASE = fake.api_base_template()
        yield fake


def test_a_shopify_store_from_install_to_redact(tenants, shopify):
    """Install over HTTP (the Admin), the connect task, a token refresh during a sync, the uninstall
    and shop/redact webhooks: each change of the store is audited, never with a token."""
    from apps.stores.tasks import connect_store

    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    admin = admin_session(a)
    started = admin.get("/stores/connect/shopify", {"shop": SHOP})
    approved = requests.get(started["Location"], allow_redirects=False, timeout=30)
    back = admin.get("/stores/oauth/shopify/callback", _query(approved.headers["Location"]))
    assert back.status_code == 302, back.content
    with schema_context(a.schema):
        store = StoreConnection.objects.get(shop_domain=SHOP)
        tokens = set(connections.credentials_of(store).values())
        assert connect_store(store.pk) == "active"  # the task, in-process
        shopify.expire_tokens(SHOP)
        run = sync.sync_request(
            store=store, resource="products", mode="full", actor=Actor.system("t"), enqueue=False
        )
        assert sync.sync_run_execute(run_id=run.pk).state == "done"
        tokens |= set(connections.credentials_of(StoreConnection.objects.get(pk=store.pk)).values())
    assert len(tokens) == 4  # two access tokens, two refresh tokens
    client = Client(HTTP_HOST=a.host)
    for topic in ("app/uninstalled", "shop/redact"):
        body, headers = shopify.signed_delivery(SHOP, topic, {"shop_domain": SHOP})
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
        assert (
            client.post("/webhooks/shopify", data=body, content_type="application/json", **extra).status_code
            == 200
        )
        with schema_context(a.schema):
            webhooks.webhook_process(delivery_id=WebhookDelivery.objects.get(topic=topic).pk)
    with schema_context(a.schema):
        assert not StoreConnection.objects.filter(pk=store.pk).exists()

    entries = since(a.schema, base_a, object_type="stores.storeconnection")
    assert actions(entries) == [
        "store.connect",
        "store.activate",
        "store.refresh_credentials",
        "store.uninstall",
        "store.redact",
    ]
    assert {e.object_id for e in entries} == {str(store.pk)}
    connect, activate, refresh, uninstall, redact = entries
    assert by_user(connect, a)  # the Admin who started the install, from the state nonce
    assert connect.after["credential_keys"] == ["access_token", "refresh_token"]
    assert (connect.after["status"], connect.after["shop_domain"]) == ("connecting", SHOP)
    assert (activate.actor_kind, activate.actor_id) == ("system", "celery:stores.connect")
    assert (activate.before["status"], activate.after["status"]) == ("connecting", "active")
    assert refresh.actor_id == "stores.credentials_refresh"
    assert refresh.after["credentials"] == "refreshed"
    assert refresh.after["token_expires_at"] != refresh.before["token_expires_at"]
    assert (uninstall.actor_kind, uninstall.actor_id) == ("system", "webhook:shopify")
    assert (uninstall.before["credentials"], uninstall.after["credentials"]) == ("set", "none")
    assert uninstall.after["status"] == "uninstalled"
    assert redact.before["shop_domain"] == SHOP
    # The entry outlives the store it names: what went (rows, cascades included).
    assert set(redact.after["deleted"]) == {"orders", "customers", "variants", "products"}
    assert redact.after["deleted"]["orders"] >= 24
    verified(a.schema)
    assert_secret_free(a.schema, shopify.client_secret, *tokens)
    assert since(b.schema, base_b) == []


@pytest.fixture
def bigcommerce(settings) -> Iterator[FakeBigCommerce]:
    fake = FakeBigCommerce()
    fake.add_store(BC_HASH, FakeStore.generate(orders=12, customers=5, products=2, seed=12))
    with fake.server:
        settings.KIKI_BIGCOMMERCE_CLIENT_ID = fake.client_id
        settings.KIKI_BIGCOMMERCE_CLIENT_SECRET = fake.client_secret
        settings.KIKI_BIGCOMMERCE_API_BASE = fake.server.url
        settings.KIKI_BIGCOMMERCE_LOGIN_BASE = fake.server.url
        yield fake


def test_a_bigcommerce_install_is_audited_as_the_admin_who_started_it(tenants, bigcommerce, settings):
    a, b = tenants
    base_a, base_b = head(a.schema), head(b.schema)
    public = Client(HTTP_HOST=settings.KIKI_BASE_DOMAIN, HTTP_ACCEPT="application/json")
    started = admin_session(a).get("/stores/connect/bigcommerce")
    to_bigcommerce = public.get(urlsplit(started["Location"]).path, _query(started["Location"]))
    bigcommerce.auth_callback_url = f"http://{settings.KIKI_BASE_DOMAIN}/stores/oauth/bigcommerce/auth"
    bigcommerce.installing = BC_HASH
    approved = requests.get(to_bigcommerce["Location"], allow_redirects=False, timeout=30)
    done = public.get(urlsplit(approved.headers["Location"]).path, _query(approved.headers["Location"]))
    assert done.status_code == 302, done.content
    removed = public.get("/stores/oauth/bigcommerce/uninstall", bigcommerce.load_query(BC_HASH))
    assert removed.status_code == 200
    with schema_context(a.schema):
        store = StoreConnection.objects.get(shop_domain=BC_HASH)
    connect, uninstall = since(a.schema, base_a)
    assert (connect.action, connect.object_id) == ("store.connect", str(store.pk))
    assert by_user(connect, a)
    assert connect.after["credential_keys"] == ["access_token"]
    assert (uninstall.action, uninstall.actor_id) == ("store.uninstall", "webhook:bigcommerce")
    verified(a.schema)
    assert_secret_free(a.schema, bigcommerce.client_secret, *bigcommerce.stores[BC_HASH].tokens)
    assert since(b.schema, base_b) == []


# --- LTV model promotions -----------------------------------------------------------------------------
@pytest.fixture
def eager_training(settings) -> Iterator[None]:
    from apps.core.ml import ml_redis
    from kiki_project.celery import app

    settings.KIKI_LTV_TRAIN_MAX_EPOCHS = 2
    settings.KIKI_LTV_MIN_CUSTOMERS = 50
    settings.KIKI_LTV_MIN_HISTORY_DAYS = 90
    ml_redis().flushdb()
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)
    ml_redis().flushdb()


@pytest.mark.slow
def test_ltv_promotions_are_audited_with_the_rules_reasons(
    tenants, admin_api, eager_training, django_capture_on_commit_callbacks
):
    from apps.bidding.ltv import ltv_promotion_decision
    from apps.bidding.models import LtvModel, LtvTrainingRun
    from tests.ltv_data import post_orders, simulated_orders

    a, b = tenants
    store = admin_api.post("/api/v1/stores", {"name": "Web shop", "currency": "USD"}, format="json").json()
    post_orders(admin_api, store["id"], simulated_orders(250, seed=8))
    base_a, base_b = head(a.schema), head(b.schema)
    refused = admin_api.post("/api/v1/ltv/models/train", {"horizon_days": 5}, format="json")
    assert refused.status_code == 400
    assert since(a.schema, base_a) == []

    def train(horizon: int) -> LtvTrainingRun:
        with django_capture_on_commit_callbacks(execute=True):
            r = admin_api.post("/api/v1/ltv/models/train", {"horizon_days": horizon}, format="json")
        assert r.status_code == 202, r.content
        with schema_context(a.schema):
            return LtvTrainingRun.objects.select_related("model").get(pk=r.json()["id"])

    first = train(180)
    assert first.promoted, first.decision
    promote, publish = since(a.schema, base_a, object_type="bidding.ltvmodel")
    assert (promote.action, promote.object_id) == ("ltv_model.promote", str(first.model.pk))
    assert (promote.actor_kind, promote.actor_id) == ("system", "celery:bidding.train_ltv_model")
    assert promote.before == {"version": first.model.version, "status": "candidate"}
    assert promote.after["version"] == first.model.version
    assert promote.after["status"] == "active"
    assert promote.after["requested_by"] == f"user:{a.admin_email}"
    assert promote.after["decision"] == first.decision
    first_reasons = ltv_promotion_decision(first.model.candidate_metrics, None).reasons
    assert promote.after["reasons"] == list(first_reasons)
    assert promote.after["reasons"]
    assert promote.after["compared_with"] == ""
    assert promote.after["current_metrics"] is None
    assert set(promote.after["candidate_metrics"]) >= {"spend_mae", "below_low", "above_high"}
    assert (publish.action, publish.after) == (
        "ltv_model.publish",
        {"version": first.model.version, "published": True},
    )

    mid = head(a.schema)
    second = train(90)
    with schema_context(a.schema):
        new = LtvModel.objects.get(pk=second.model.pk)
    verdict = ltv_promotion_decision(new.candidate_metrics, new.current_metrics)
    entries = since(a.schema, mid, object_type="bidding.ltvmodel")
    decided = next(e for e in entries if e.object_id == str(new.pk) and e.action != "ltv_model.publish")
    assert decided.after["reasons"] == list(verdict.reasons)
    assert decided.after["reasons"]  # a decision always says why
    assert decided.after["compared_with"] == first.model.version
    assert decided.after["current_metrics"] == chain.to_plain(new.current_metrics)  # floats as their repr
    if second.promoted:
        assert actions(entries) == ["ltv_model.retire", "ltv_model.promote", "ltv_model.publish"]
        assert entries[0].object_id == str(first.model.pk)
        assert entries[0].after == {
            "version": first.model.version,
            "status": "retired",
            "replaced_by": new.version,
        }
    else:
        assert actions(entries) == ["ltv_model.reject"]
        assert decided.after["status"] == "rejected"
        assert decided.after["decision"].startswith("Rejected:")
    verified(a.schema)
    assert since(b.schema, base_b) == []
