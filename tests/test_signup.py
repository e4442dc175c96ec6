"""Signup: page and API end to end, every validation error, all-or-nothing, hand-off, rate limit."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_tenants.utils import schema_context, schema_exists

from apps.core.actor import Actor
from apps.governance.tenancy import services as tenancy_services
from apps.governance.tenancy.models import Domain, Tenant
from conftest import PASSWORD, api_client_for

GOOD = {"name": "Gamma Goods", "slug": "gamma", "admin_email": "Ops@Gamma.test", "password": PASSWORD}


def public_client() -> Client:
    return Client(HTTP_HOST="localhost")


def test_page_signup_lands_in_the_new_admin_signed_in(tenants):
    response = public_client().post("/", GOOD)
    assert response.status_code == 302, response.content
    target = urlparse(response["Location"])
    assert target.hostname == "gamma.localhost"
    assert target.path == "/accounts/handoff"
    assert schema_exists("gamma")
    assert Domain.objects.filter(domain="gamma.localhost", tenant__slug="gamma").exists()

    browser = Client(HTTP_HOST="gamma.localhost")
    landed = browser.get(f"{target.path}?{target.query}")
    assert landed.status_code == 302
    assert landed["Location"] == "/admin/"
    admin_index = browser.get("/admin/")
    assert admin_index.status_code == 200
    assert b"Gamma Goods" in admin_index.content
    # The hand-off link is single use.
    assert Client(HTTP_HOST="gamma.localhost").get(f"{target.path}?{target.query}").status_code == 400


def test_api_signup_then_login_on_the_new_host(tenants):
    response = api_client_for("localhost").post("/api/v1/signup", GOOD, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "gamma"
    assert body["admin_email"] == "ops@gamma.test"
    assert body["admin_url"] == "http://gamma.localhost:8000/admin/"
    assert "password" not in body
    login = api_client_for("gamma.localhost").post(
        "/api/v1/auth/login/", {"username": "ops@gamma.test", "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200, login.content
    me = api_client_for("gamma.localhost", token=login.json()["key"]).get("/api/v1/me")
    assert me.json()["role"] == "admin"
    assert me.json()["workspace"]["dry_run"] is True
    # Other tenants are untouched and the new admin is unknown to them.
    with schema_context(tenants.a.schema):
        from django.contrib.auth import get_user_model

        assert not get_user_model().objects.filter(username="ops@gamma.test").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "gam ma"),
        ("slug", "gam_ma"),
        ("slug", "9gamma"),
        ("slug", "gam--ma"),
        ("slug", "ga"),
        ("slug", "g" * 41),
        ("slug", "gamma-"),
        ("slug", "public"),
        ("slug", "www"),
        ("slug", "admin"),
        ("slug", "api"),
        ("slug", "static"),
        ("slug", "media"),
        ("password", "short"),
        ("password", "password123"),
        ("password", "83749261038"),
        ("admin_email", "not-an-email"),
        ("name", ""),
    ],
)
def test_api_validation_errors_name_the_field(tenants, field, value):
    response = api_client_for("localhost").post("/api/v1/signup", {**GOOD, field: value}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert not Tenant.objects.filter(slug="gamma").exists()


def test_missing_fields_are_listed(tenants):
    response = api_client_for("localhost").post("/api/v1/signup", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) >= {"name", "slug", "admin_email", "password"}


def test_duplicate_slug_is_a_conflict(tenants):
    response = api_client_for("localhost").post(
        "/api/v1/signup", {**GOOD, "slug": tenants.a.slug}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "slug" in response.json()["error"]["details"]


def test_page_shows_field_errors(tenants):
    response = public_client().post("/", {**GOOD, "slug": "Bad Slug", "admin_email": "nope"})
    assert response.status_code == 400
    assert b"lower-case letters" in response.content.lower()
    assert b"valid email" in response.content.lower()
    taken = public_client().post("/", {**GOOD, "slug": tenants.b.slug})
    assert taken.status_code == 409
    assert b"already taken" in taken.content


def test_failure_half_way_leaves_nothing(committed_db, monkeypatch):
    def explode(**kwargs):
        assert schema_exists("delta")  # the schema really was created before the failure
        raise RuntimeError("mail server down")

    monkeypatch.setattr(tenancy_services, "_create_first_admin", explode)
    request = tenancy_services.SignupRequest(
        name="Delta", slug="delta", admin_email="d@delta.test", password=PASSWORD
    )
    try:
        with pytest.raises(RuntimeError, match="mail server down"):
            tenancy_services.tenant_signup(request, actor=Actor.system("test"))
        assert not schema_exists("delta")
        assert not Tenant.objects.filter(slug="delta").exists()
        assert not Domain.objects.filter(domain__startswith="delta.").exists()
    finally:
        for t in Tenant.objects.filter(slug="delta"):
            t.delete(force_drop=True)


def test_handoff_token_is_bound_to_its_tenant(tenants):
    from apps.governance.tenancy.handoff import handoff_issue

    token = handoff_issue(schema_name=tenants.a.schema, user_id=1)
    assert Client(HTTP_HOST=tenants.b.host).get(f"/accounts/handoff?token={token}").status_code == 400
    assert Client(HTTP_HOST=tenants.b.host).get("/accounts/handoff?token=forged").status_code == 400


def test_signups_are_rate_limited_per_ip(tenants, settings):
    settings.KIKI_SIGNUP_RATE = "2/hour"
    client = api_client_for("localhost")
    for slug in ("rl-one", "rl-two"):
        assert client.post("/api/v1/signup", {**GOOD, "slug": slug}, format="json").status_code == 201
    refused = client.post("/api/v1/signup", {**GOOD, "slug": "rl-three"}, format="json")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["error"]["code"] == "throttled"
    page = public_client().post("/", {**GOOD, "slug": "rl-four"})
    assert page.status_code == 429
    assert not Tenant.objects.filter(slug__in=["rl-three", "rl-four"]).exists()
    other_ip = api_client_for(
        "localhost",
    ).post("/api/v1/signup", {**GOOD, "slug": "rl-five"}, format="json", REMOTE_ADDR="10.9.8.7")
    assert other_ip.status_code == 201


def test_operator_command_creates_a_tenant(tenants, monkeypatch, capsys):
    monkeypatch.setenv("KIKI_ADMIN_PASSWORD", PASSWORD)
    call_command("create_tenant_account", name="Omega", slug="omega", admin_email="o@omega.test")
    assert "created tenant 'omega'" in capsys.readouterr().out
    assert schema_exists("omega")
    with pytest.raises(CommandError, match="slug"):
        call_command("create_tenant_account", name="Bad", slug="Bad Slug", admin_email="b@bad.test")
