def test_two_tenants_exist(tenants):
    from apps.governance.tenancy.models import Tenant

    assert set(Tenant.objects.values_list("slug", flat=True)) >= {"alpha", "beta", "public"}


def test_me_endpoint(tenants, login_token):
    from conftest import api_client_for

    tok = login_token(tenants.a, tenants.a.admin_email)
    r = api_client_for(tenants.a.host, token=tok).get("/api/v1/me")
    assert r.status_code == 200, r.content
    assert r.json()["role"] == "admin"
    r = api_client_for(tenants.b.host, token=tok).get("/api/v1/me")
    assert r.status_code == 401, r.content
