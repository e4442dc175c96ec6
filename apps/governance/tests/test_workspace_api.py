"""Workspace settings over the API: Admins change them, Analysts and API keys of another tenant can't."""

from __future__ import annotations

from apps.governance.tenancy.models import Tenant
from conftest import api_client_for


def test_admin_updates_settings_and_leaves_dry_run(tenants, login_token):
    a, b = tenants
    client = api_client_for(a.host, token=login_token(a, a.admin_email))
    # Leaving dry run is a policy change: without a reason nothing changes.
    r = client.patch("/api/v1/workspace", {"currency": "eur", "dry_run": False}, format="json")
    assert r.status_code == 400
    assert "reason" in r.json()["error"]["details"]
    assert Tenant.objects.get(slug=a.slug).currency == "USD"
    r = client.patch(
        "/api/v1/workspace",
        {"timezone": "Europe/Paris", "currency": "eur", "dry_run": False, "reason": "go live"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["dry_run"] is False
    assert r.json()["currency"] == "EUR"
    tenant_a = Tenant.objects.get(slug=a.slug)
    assert (tenant_a.timezone, tenant_a.currency, tenant_a.dry_run) == ("Europe/Paris", "EUR", False)
    tenant_b = Tenant.objects.get(slug=b.slug)
    assert (tenant_b.timezone, tenant_b.currency, tenant_b.dry_run) == ("UTC", "USD", True)


def test_bad_values_are_rejected_with_reasons_and_nothing_changes(tenants, login_token):
    a, _ = tenants
    client = api_client_for(a.host, token=login_token(a, a.admin_email))
    r = client.patch("/api/v1/workspace", {"timezone": "Mars/Olympus", "currency": "EURO"}, format="json")
    assert r.status_code == 400
    body = r.json()["error"]
    assert body["code"] == "validation_error"
    assert set(body["details"]) >= {"timezone", "currency"}
    tenant_a = Tenant.objects.get(slug=a.slug)
    assert (tenant_a.timezone, tenant_a.currency) == ("UTC", "USD")
    # Letters outside A–Z are no ISO code (a 400, not the database's check constraint as a 500).
    r = client.patch("/api/v1/workspace", {"currency": "zÆÁ"}, format="json")
    assert r.status_code == 400
    assert "currency" in r.json()["error"]["details"]


def test_analyst_reads_but_cannot_change(tenants, login_token):
    a, _ = tenants
    client = api_client_for(a.host, token=login_token(a, a.analyst_email))
    assert client.get("/api/v1/workspace").json()["slug"] == a.slug
    r = client.patch("/api/v1/workspace", {"dry_run": False}, format="json")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "permission_denied"
    assert Tenant.objects.get(slug=a.slug).dry_run is True
