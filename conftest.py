"""Fixtures shared by every test package (apps/*/tests, ml/*/tests, tests/).

Tenancy in tests: the test database is bootstrapped once (public schema, public hosts, the tenant
template schema) and two tenants, ``alpha`` and ``beta``, are created and committed once per session,
each with an Admin and an Analyst. Ordinary tests run inside a transaction that is rolled back
(``db``); tests that need committed rows (a real Celery worker, signup's all-or-nothing) use
``committed_db`` and clean up after themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from kiki_project.devstack import with_db_index

PASSWORD = "Correct-Horse-42-battery"
TEST_ARTIFACTS = Path(__file__).resolve().parent / ".kiki" / "test-artifacts"
GATE_FIGURES = TEST_ARTIFACTS / "gates" / "figures"


def pytest_sessionstart(session: Any) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist
        for old in GATE_FIGURES.glob("*.json"):
            old.unlink()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The quality gates' figures (tests/gates), whichever process ran them."""
    if hasattr(terminalreporter.config, "workerinput"):
        return
    figures = sorted(json.loads(p.read_text()) for p in GATE_FIGURES.glob("*.json"))
    if figures:
        terminalreporter.section("quality gates")
        for name, value in figures:
            terminalreporter.write_line(f"{name}: {value}")


@dataclass(frozen=True)
class TenantInfo:
    slug: str
    schema: str
    host: str
    admin_email: str
    analyst_email: str
    password: str = PASSWORD


@dataclass(frozen=True)
class TwoTenants:
    a: TenantInfo
    b: TenantInfo

    def __iter__(self) -> Iterator[TenantInfo]:
        return iter((self.a, self.b))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis logical database reserved for the test session (emptied before each test that asks)."""
    from django.conf import settings

    return with_db_index(settings.REDIS_URL, int(os.environ.get("KIKI_TEST_REDIS_DB", "15")))


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(autouse=True)
def _fresh_platform_redis(request: Any) -> None:
    """Throttle windows, heartbeats and hand-off nonces never leak from one test into another."""
    if "django_db_setup" not in request.fixturenames and "platform_redis" not in request.fixturenames:
        return
    from apps.core.redis import get_redis

    get_redis().flushdb()


@pytest.fixture
def platform_redis() -> redis.Redis:
    from apps.core.redis import get_redis

    client = get_redis()
    client.flushdb()
    return client


def _make_tenant(slug: str) -> TenantInfo:
    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.core.actor import Actor
    from apps.governance.services import user_create
    from apps.governance.tenancy.services import SignupRequest, tenant_signup

    admin_email, analyst_email = f"admin@{slug}.test", f"analyst@{slug}.test"
    result = tenant_signup(
        SignupRequest(name=f"{slug.title()} Ltd", slug=slug, admin_email=admin_email, password=PASSWORD),
        actor=Actor.system("tests"),
    )
    with schema_context(result.schema_name):
        user_create(email=analyst_email, password=PASSWORD, role="analyst", actor=Actor.system("tests"))
    return TenantInfo(
        slug, result.schema_name, f"{slug}.{settings.KIKI_BASE_DOMAIN}", admin_email, analyst_email
    )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[TwoTenants]:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    # pytest-django creates test databases only for the aliases that collected tests ask for through
    # ``db``/``django_db``. Tests that only commit (``committed_db``: a real Celery worker) ask for none,
    # so run alone they would have reached the development database itself. Never: make one here.
    created = None
    if not str(connection.settings_dict["NAME"]).startswith("test_"):
        with django_db_blocker.unblock():
            created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    with django_db_blocker.unblock():
        call_command("kiki_bootstrap", verbosity=0)
        tenants = TwoTenants(_make_tenant("alpha"), _make_tenant("beta"))
    yield tenants
    if created is not None:
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=0)


@pytest.fixture
def tenants(django_db_setup: TwoTenants, db: None) -> TwoTenants:
    return django_db_setup


@pytest.fixture
def committed_db(django_db_setup: TwoTenants, django_db_blocker: Any) -> Iterator[TwoTenants]:
    """Database access without the per-test transaction: what a test writes is committed and seen by
    other processes. Such tests remove what they create."""
    from django.db import connection

    with django_db_blocker.unblock():
        yield django_db_setup
        connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> Iterator[None]:
    yield
    from django.db import connection

    if connection.connection is not None:
        connection.set_schema_to_public()


def api_client_for(host: str, *, token: str | None = None, api_key: str | None = None) -> Any:
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST=host)
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    if api_key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def login_token() -> Any:
    """Log in through the real dj-rest-auth endpoint and return the DRF token."""

    def _login(info: TenantInfo, email: str) -> str:
        client = api_client_for(info.host)
        response = client.post(
            "/api/v1/auth/login/", {"username": email, "password": info.password}, format="json"
        )
        assert response.status_code == 200, response.content
        return str(response.json()["key"])

    return _login
