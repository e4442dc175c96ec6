"""Tenant A's credentials on tenant B's host never get data, on every route of the tenant urlconf.

The routes are read from ``kiki_project.urls_tenants`` at test time, so routes added later are
covered without touching this file.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.governance import services as governance
from conftest import api_client_for

A_KEY_NAME = "alpha-private-integration-key"
# Routes that answer anyone by design; they must still never show A's data on B's host.
PUBLIC_BY_DESIGN = (
    "",
    "health",
    "livez",
    "api/schema",
    "api/docs",
    "accounts/handoff",
    "api/v1/auth/login/",
    "api/v1/auth/logout/",
    "api/v1/auth/password/reset/",
    "api/v1/auth/password/reset/confirm/",
    "admin/login/",
    "admin/logout/",
    "admin/password_change/",
    "admin/password_change/done/",
    "admin/jsi18n/",
    "admin/password_reset/",
    "admin/password_reset/done/",
    "reset/MQ/x-y/",
    "reset/done/",
)
DENIED = {301, 302, 400, 401, 403, 404, 405}
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")
_CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _example(name: str, pk: str) -> str:
    return {"format": "json", "app_label": "governance", "uidb64": "MQ", "token": "x-y"}.get(name, pk)


def _to_path(fragment: str, pk: str) -> str:
    if fragment.startswith("^") or fragment.endswith("$") or "(?P<" in fragment:
        text = fragment.lstrip("^").rstrip("$")
        text = _GROUP.sub(lambda m: _example(m.group("name"), pk), text)
        text = text.replace("\\.", ".").replace("/?", "/").replace("\\", "")
        return text
    return _CONVERTER.sub(lambda m: _example(m.group("name"), pk), fragment)


def tenant_paths(pk: str) -> list[str]:
    paths: set[str] = set()

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            piece = _to_path(str(p.pattern), pk)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + piece)
            elif isinstance(p, URLPattern):
                paths.add(prefix + piece)

    walk(get_resolver("kiki_project.urls_tenants").url_patterns, "")
    return sorted(paths)


@dataclass
class Creds:
    token: str
    api_key: str
    session: Client
    markers: tuple[str, ...]


@pytest.fixture
def a_creds(tenants, login_token) -> Creds:
    a = tenants.a
    with schema_context(a.schema):
        issued = governance.apikey_create(name=A_KEY_NAME, role="admin", actor=Actor.system("tests"))
        session = Client(HTTP_HOST=a.host)
        assert session.login(username=a.admin_email, password=a.password)
    return Creds(
        token=login_token(a, a.admin_email),
        api_key=issued.plaintext,
        session=session,
        markers=(a.admin_email, a.analyst_email, A_KEY_NAME, issued.key.prefix, "Alpha Ltd"),
    )


def _clients(creds: Creds, host: str) -> dict[str, object]:
    session = Client(HTTP_HOST=host)
    session.cookies = copy.deepcopy(creds.session.cookies)  # a browser would not send it; an attacker could
    return {
        "token": api_client_for(host, token=creds.token),
        "api_key": api_client_for(host, api_key=creds.api_key),
        "session": session,
    }


def test_the_walk_finds_the_routes_that_matter():
    paths = tenant_paths("1")
    for expected in (
        "api/v1/me",
        "api/v1/users",
        "api/v1/api-keys/1/revoke",
        "admin/governance/apikey/",
        "api/v1/reports",
    ):
        assert expected in paths, expected
    assert len(paths) > 40


def test_a_credentials_work_on_a_host(tenants, a_creds):
    clients = _clients(a_creds, tenants.a.host)
    for kind in ("token", "api_key"):
        r = clients[kind].get("/api/v1/me")
        assert r.status_code == 200, (kind, r.content)
    assert a_creds.session.get("/admin/").status_code == 200


def test_a_credentials_on_b_host_never_get_data(tenants, a_creds):
    with schema_context(tenants.a.schema):
        from django.contrib.auth import get_user_model

        pk = str(get_user_model().objects.get(username=tenants.a.admin_email).pk)
    failures = []
    for path in tenant_paths(pk):
        url = "/" + path
        for kind, client in _clients(a_creds, tenants.b.host).items():
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                body = b"".join(response.streaming_content) if response.streaming else response.content
                leaked = [m for m in a_creds.markers if m.encode() in body]
                if leaked:
                    failures.append(f"{method.upper()} {url} [{kind}] leaked {leaked}")
                if response.status_code not in DENIED and path not in PUBLIC_BY_DESIGN:
                    failures.append(f"{method.upper()} {url} [{kind}] answered {response.status_code}")
    assert not failures, "\n".join(failures)


def test_admin_changelists_are_scoped_to_the_host(tenants, a_creds):
    clients_b = _clients(a_creds, tenants.b.host)
    seen_on_a = 0
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        on_b = clients_b["session"].get(url)
        assert on_b.status_code in (302, 403, 404), (url, on_b.status_code)
        assert not any(m.encode() in on_b.content for m in a_creds.markers), url
        on_a = a_creds.session.get(url)
        if on_a.status_code == 200:
            seen_on_a += 1
    assert seen_on_a >= 4  # users, groups, API keys, secrets, reports on A's own host
