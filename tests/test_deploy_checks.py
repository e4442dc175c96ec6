"""Deployment checks: production settings pass ``manage.py check --deploy``; every answer carries the
security headers a money-handling product needs; the public address has one definition."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from kiki_project.addresses import AddressError, PublicAddress, bind_address, public_address

ROOT = Path(__file__).resolve().parent.parent


def production_env(**extra: str) -> dict[str, str]:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = dict(
        os.environ,
        KIKI_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        KIKI_ENCRYPTION_KEYS=f"prod1:{key}",
        KIKI_PUBLIC_URL="https://kiki.example.com",
    )
    env.pop("DEBUG", None)
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings():
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.slow
def test_production_refuses_to_start_without_a_public_https_url():
    for extra, needle in (
        ({"KIKI_PUBLIC_URL": ""}, "KIKI_PUBLIC_URL must be set in production"),
        ({"KIKI_PUBLIC_URL": "http://kiki.example.com"}, "must use https in production"),
    ):
        done = manage("check", env=production_env(**extra))
        assert done.returncode != 0
        assert needle in done.stderr


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def test_every_answer_carries_the_security_headers(tenants):
    tenant = Client(HTTP_HOST=tenants.a.host)
    for client, path in (
        (tenant, "/api/v1/me"),  # 401
        (tenant, "/admin/login/"),  # 200, HTML
        (tenant, "/api/v1/no-such-route"),  # Django's 404, in our shape
        (Client(HTTP_HOST="nobody.localhost"), "/api/v1/me"),  # the tenant middleware's own 404
        (Client(HTTP_HOST="localhost"), "/"),  # the public landing page
    ):
        response = client.get(path)
        for header, value in SECURITY_HEADERS.items():
            assert response.headers.get(header) == value, (path, header, response.headers.get(header))
        assert "Strict-Transport-Security" not in response.headers  # never over plain HTTP
    secure = tenant.get("/admin/login/", secure=True)
    hsts = secure.headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts  # workspaces are hosts under the base domain


def test_unmatched_api_urls_answer_in_the_error_shape(tenants):
    response = Client(HTTP_HOST=tenants.a.host).get("/api/v1/customers/0.5")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_api_docs_load_swagger_ui_from_our_own_static_files(tenants):
    html = Client(HTTP_HOST=tenants.a.host).get("/api/docs").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn.jsdelivr.net" not in html
    assert "unpkg.com" not in html


# --- one definition of where we listen and where people reach us ------------------------------------
@pytest.mark.parametrize(
    ("env", "bind", "url"),
    [
        ({}, "127.0.0.1:8000", "http://localhost:8000"),
        ({"KIKI_PORT": "8100"}, "127.0.0.1:8100", "http://localhost:8100"),
        ({"KIKI_BIND": "0.0.0.0:8100"}, "0.0.0.0:8100", "http://localhost:8100"),
        ({"KIKI_BIND": "127.0.0.1:8100", "KIKI_PORT": "8100"}, "127.0.0.1:8100", "http://localhost:8100"),
        ({"KIKI_BIND": "127.0.0.1:80", "KIKI_BASE_DOMAIN": "kiki.test"}, "127.0.0.1:80", "http://kiki.test"),
        (
            {"KIKI_BIND": "127.0.0.1:8100", "KIKI_PUBLIC_URL": "https://kiki.example.com"},
            "127.0.0.1:8100",
            "https://kiki.example.com",
        ),
        (
            {"KIKI_PUBLIC_URL": "http://kiki.test:9000/", "KIKI_BASE_DOMAIN": "kiki.test"},
            "127.0.0.1:8000",
            "http://kiki.test:9000",
        ),
        ({"KIKI_PUBLIC_URL": "https://Kiki.Example.com:443"}, "127.0.0.1:8000", "https://kiki.example.com"),
    ],
)
def test_the_public_port_follows_the_bind_unless_a_public_url_is_set(env, bind, url):
    assert bind_address(env) == bind
    address = public_address(env, production=False)
    assert address.url() == url
    assert address.url(f"acme.{address.domain}") == url.replace("://", "://acme.")


@pytest.mark.parametrize(
    "env",
    [
        {"KIKI_PORT": "8100", "KIKI_BIND": "127.0.0.1:8000"},
        {"KIKI_PORT": "eighty"},
        {"KIKI_BIND": "8000"},
        {"KIKI_PUBLIC_URL": "https://kiki.example.com/app"},
        {"KIKI_PUBLIC_URL": "ftp://kiki.example.com"},
        {"KIKI_PUBLIC_URL": "https://kiki.example.com", "KIKI_BASE_DOMAIN": "other.example.com"},
    ],
)
def test_contradictory_or_malformed_addresses_are_refused_by_name(env):
    with pytest.raises(AddressError) as refused:
        public_address(env, production=False)
    assert any(name in str(refused.value) for name in env)


def test_csrf_origins_are_the_public_site_and_its_workspaces():
    assert PublicAddress("http", "localhost", 8100).csrf_trusted_origins() == [
        "http://localhost:8100",
        "http://*.localhost:8100",
    ]
