"""Admin vs Analyst, enforced in the API and the admin; API keys carry exactly their role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.governance import services as governance
from apps.governance.models import ApiKey
from conftest import api_client_for


def user_pk(info, email):
    with schema_context(info.schema):
        return get_user_model().objects.get(username=email).pk


@pytest.fixture
def analyst(tenants, login_token):
    return api_client_for(tenants.a.host, token=login_token(tenants.a, tenants.a.analyst_email))


@pytest.fixture
def admin_api(tenants, login_token):
    return api_client_for(tenants.a.host, token=login_token(tenants.a, tenants.a.admin_email))


def admin_session(info, email):
    client = Client(HTTP_HOST=info.host)
    with schema_context(info.schema):
        assert client.login(username=email, password=info.password)
    return client


def test_analyst_reads_and_runs_reports(analyst):
    assert analyst.get("/api/v1/users").status_code == 200
    assert analyst.get("/api/v1/me").json()["role"] == "analyst"
    assert analyst.get("/api/v1/reports").status_code == 200
    assert analyst.post("/api/v1/reports", {"kind": "access_review"}, format="json").status_code == 202


def test_analyst_is_denied_every_admin_only_api_action(tenants, analyst):
    a = tenants.a
    admin_pk = user_pk(a, a.admin_email)
    with schema_context(a.schema):
        key = governance.apikey_create(name="k", role="analyst", actor=Actor.system("tests")).key
    attempts = [
        ("post", "/api/v1/users", {"email": "new@alpha.test", "role": "admin"}),
        ("patch", f"/api/v1/users/{admin_pk}", {"role": "analyst"}),
        ("get", "/api/v1/api-keys", None),
        ("get", f"/api/v1/api-keys/{key.pk}", None),
        ("post", "/api/v1/api-keys", {"name": "mine", "role": "admin"}),
        ("post", f"/api/v1/api-keys/{key.pk}/revoke", None),
        ("patch", "/api/v1/workspace", {"dry_run": False}),
    ]
    for method, url, data in attempts:
        response = getattr(analyst, method)(url, data, format="json")
        assert response.status_code == 403, (method, url, response.status_code)
        assert response.json()["error"]["code"] == "permission_denied"
    with schema_context(a.schema):
        assert not get_user_model().objects.filter(username="new@alpha.test").exists()
        assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_admin_can_do_those_things(tenants, admin_api):
    a = tenants.a
    created = admin_api.post(
        "/api/v1/users",
        {"email": "new@alpha.test", "role": "analyst", "password": "Another-Good-pass-9"},
        format="json",
    )
    assert created.status_code == 201, created.content
    promoted = admin_api.patch(f"/api/v1/users/{created.json()['id']}", {"role": "admin"}, format="json")
    assert promoted.json()["role"] == "admin"
    key = admin_api.post("/api/v1/api-keys", {"name": "ci", "role": "analyst"}, format="json")
    assert key.status_code == 201
    plaintext = key.json()["key"]
    listed = admin_api.get("/api/v1/api-keys").json()
    assert listed["count"] == 1
    assert plaintext not in str(listed)
    revoked = admin_api.post(f"/api/v1/api-keys/{key.json()['id']}/revoke")
    assert revoked.json()["revoked_at"] is not None
    assert api_client_for(a.host, api_key=plaintext).get("/api/v1/me").status_code == 401


def test_last_admin_cannot_be_demoted_or_deactivated(tenants, admin_api):
    a = tenants.a
    other_admin = user_pk(a, a.admin_email)
    r = admin_api.patch(f"/api/v1/users/{other_admin}", {"role": "analyst"}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "validation_error"
    r = admin_api.patch(f"/api/v1/users/{other_admin}", {"is_active": False}, format="json")
    assert r.status_code == 400
    with schema_context(a.schema):
        assert get_user_model().objects.get(pk=other_admin).is_active


def test_api_keys_carry_their_role(tenants):
    a, b = tenants
    with schema_context(a.schema):
        analyst_key = governance.apikey_create(
            name="an", role="analyst", actor=Actor.system("tests")
        ).plaintext
        admin_key = governance.apikey_create(name="ad", role="admin", actor=Actor.system("tests")).plaintext
        expired = governance.apikey_create(name="old", role="admin", actor=Actor.system("tests"))
        ApiKey.objects.filter(pk=expired.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_client_for(a.host, api_key=analyst_key).get("/api/v1/api-keys").status_code == 403
    assert api_client_for(a.host, api_key=admin_key).get("/api/v1/api-keys").status_code == 200
    assert api_client_for(a.host, api_key=expired.plaintext).get("/api/v1/me").status_code == 401
    assert api_client_for(b.host, api_key=admin_key).get("/api/v1/me").status_code == 401
    assert api_client_for(a.host, api_key=admin_key[:-2] + "xx").get("/api/v1/me").status_code == 401
    with schema_context(a.schema):
        assert ApiKey.objects.get(name="ad").last_used_at is not None


def test_admin_site_enforces_roles(tenants):
    a = tenants.a
    analyst = admin_session(a, a.analyst_email)
    admin = admin_session(a, a.admin_email)
    assert analyst.get("/admin/auth/user/").status_code == 200
    assert analyst.get("/admin/auth/user/add/").status_code == 403
    pk = user_pk(a, a.admin_email)
    change = analyst.get(f"/admin/auth/user/{pk}/change/")
    assert change.status_code == 200
    assert b'name="_save"' not in change.content  # read-only view
    assert analyst.post(f"/admin/auth/user/{pk}/change/", {"username": "hacked"}).status_code == 403
    for url in ("/admin/governance/apikey/", "/admin/governance/secret/", "/admin/governance/apikey/add/"):
        assert analyst.get(url).status_code == 403, url
        assert admin.get(url).status_code == 200, url
    with schema_context(a.schema):
        key = governance.apikey_create(name="adminsite", role="analyst", actor=Actor.system("tests")).key
    r = analyst.post("/admin/governance/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert r.status_code == 403
    admin.post("/admin/governance/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    with schema_context(a.schema):
        assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


@pytest.mark.parametrize("schema_attr", ["a", "b"])
def test_roles_exist_in_every_tenant_with_the_expected_permissions(tenants, schema_attr):
    info = getattr(tenants, schema_attr)
    with schema_context(info.schema):
        analyst = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name="Analyst").permissions.all()
        }
        admin = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in Group.objects.get(name="Admin").permissions.all()
        }
    writes = {p for p in analyst if not p.split(".")[1].startswith("view_")}
    assert writes == {
        "governance.run_report",
        "governance.propose_action",
        "recon.run_reconciliation",
        "bidding.score_ltv",
    }
    assert not {"governance.view_apikey", "governance.view_secret", "authtoken.view_token"} & analyst
    assert {
        "governance.approve_money_movement",
        "governance.manage_credentials",
        "auth.add_user",
        "governance.add_apikey",
    } <= admin
    assert analyst < admin


def test_admin_site_adds_and_changes_people_through_the_governance_services(tenants):
    a, b = tenants
    admin = admin_session(a, a.admin_email)
    added = admin.post(
        "/admin/auth/user/add/",
        {"email": "Invited@Alpha.test", "role": "analyst", "initial_password": "", "first_name": "In"},
    )
    assert added.status_code == 302, added.content[:2000]
    with schema_context(a.schema):
        invited = get_user_model().objects.get(username="invited@alpha.test")
        assert invited.is_staff  # may use this admin once they set a password
        assert not invited.has_usable_password()  # an invitation: "Forgotten your password?"
        assert governance.user_role(invited).value == "analyst"
    with schema_context(b.schema):
        assert not get_user_model().objects.filter(username="invited@alpha.test").exists()

    # The same refusals as the API, shown on the form, nothing changed.
    duplicate = admin.post("/admin/auth/user/add/", {"email": a.analyst_email, "role": "admin"})
    assert duplicate.status_code == 200
    assert b"A user with this email exists" in duplicate.content or b"Taken." in duplicate.content
    own = user_pk(a, a.admin_email)
    demote = admin.post(
        f"/admin/auth/user/{own}/change/",
        {"role": "analyst", "is_active": "on", "first_name": "", "last_name": ""},
    )
    assert demote.status_code == 200
    assert b"You cannot remove your own Admin role." in demote.content
    with schema_context(a.schema):
        assert governance.user_role(get_user_model().objects.get(pk=own)).value == "admin"

    promote = admin.post(
        f"/admin/auth/user/{invited.pk}/change/",
        {"role": "admin", "is_active": "on", "first_name": "Ina", "last_name": "Vited"},
    )
    assert promote.status_code == 302
    deactivate = admin.post(
        f"/admin/auth/user/{invited.pk}/change/",
        {"role": "admin", "first_name": "Ina", "last_name": "Vited"},  # is_active unticked
    )
    assert deactivate.status_code == 302
    with schema_context(a.schema):
        invited.refresh_from_db()
        assert governance.user_role(invited).value == "admin"
        assert (invited.first_name, invited.is_active) == ("Ina", False)
