"""Secrets: ciphertext at rest, bound to purpose, rotation, never in logs, admin or API responses."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from apps.core.actor import Actor
from apps.core.crypto import CryptoError, KeyRing, generate_key, key_id_of
from apps.core.logging import ContextFilter, JsonFormatter, RedactSecretsFilter, redact_text
from apps.governance import services as governance
from apps.governance.models import ApiKey, Secret
from conftest import api_client_for

PLAINTEXT = "shpat_live_9f8e7d6c5b4a-very-secret"


def raw_value(schema: str, name: str) -> str:
    with connection.cursor() as cur:
        cur.execute(f'SELECT value FROM "{schema}".governance_secret WHERE name = %s', [name])
        return cur.fetchone()[0]


def test_database_holds_ciphertext_only(tenants):
    with schema_context(tenants.a.schema):
        governance.secret_set(name="shopify", value=PLAINTEXT, actor=Actor.system("tests"))
        assert Secret.objects.get(name="shopify").value == PLAINTEXT
    stored = raw_value(tenants.a.schema, "shopify")
    assert stored.startswith("kiki:v1:dev1:")
    assert PLAINTEXT not in stored
    with connection.cursor() as cur:  # nowhere else in the database either
        cur.execute("SELECT count(*) FROM pg_stat_user_tables")  # keep the connection in use
        for schema in (tenants.a.schema, tenants.b.schema, "public"):
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema=%s "
                "AND data_type IN ('text', 'character varying', 'jsonb')",
                [schema],
            )
            for table, column in cur.fetchall():
                cur.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE "{column}"::text LIKE %s',
                    [f"%{PLAINTEXT}%"],
                )
                assert cur.fetchone()[0] == 0, (schema, table, column)


def test_tampering_and_purpose_binding_are_detected():
    ring = KeyRing.parse(f"k1:{generate_key()}")
    token = ring.encrypt("hello", purpose="governance.secret.value")
    assert ring.decrypt(token, purpose="governance.secret.value") == "hello"
    with pytest.raises(CryptoError):
        ring.decrypt(token, purpose="stores.storeconnection.access_token")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(CryptoError):
        ring.decrypt(tampered, purpose="governance.secret.value")
    with pytest.raises(CryptoError, match="32 bytes"):
        KeyRing.parse("short:c2hvcnQ=")


def test_rotation_reencrypts_every_tenant_and_is_idempotent(tenants, settings, capsys):
    for info in tenants:
        with schema_context(info.schema):
            governance.secret_set(name="token", value=f"value-of-{info.slug}", actor=Actor.system("tests"))
    old = settings.KIKI_ENCRYPTION_KEYS
    settings.KIKI_ENCRYPTION_KEYS = f"new2:{generate_key()},{old}"
    call_command("rotate_encryption_key")
    assert "re-encrypted 1" in capsys.readouterr().out
    for info in tenants:
        assert key_id_of(raw_value(info.schema, "token")) == "new2"
    call_command("rotate_encryption_key")
    assert "re-encrypted 1" not in capsys.readouterr().out
    settings.KIKI_ENCRYPTION_KEYS = settings.KIKI_ENCRYPTION_KEYS.split(",")[0]  # old key dropped
    for info in tenants:
        with schema_context(info.schema):
            assert Secret.objects.get(name="token").value == f"value-of-{info.slug}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 50}, "KIKI_ENCRYPTION_KEYS"),
    ],
)
def test_production_refuses_development_keys(env, message):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            "PATH": "/usr/bin:/bin",
            "KIKI_ENV": "production",
            "DJANGO_SETTINGS_MODULE": "kiki_project.settings",
            "DEBUG": "0",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def _log_line(msg: str, *args, **extra) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("kiki.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(msg, *args, extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_secrets_never_reach_logs():
    api_key = "kiki_ab12cd34.ZmFrZS1idXQtbG9uZy1lbm91Z2gtc2VjcmV0"
    line = _log_line(
        "connect failed password=%s header Authorization: Token abcdef123456 key %s",
        PLAINTEXT,
        api_key,
        api_key_header=api_key,
        client_secret="s3cr3t-value",
        shop="acme",
    )
    for secret in (PLAINTEXT, "abcdef123456", api_key, "s3cr3t-value"):
        assert secret not in line
    record = json.loads(line)
    assert record["shop"] == "acme"
    assert "[redacted]" in record["message"]
    assert redact_text('{"access_token": "tok_1234567"}') == '{"access_token": "[redacted]"}'


def test_secret_never_shown_by_admin_or_api(tenants, login_token):
    a = tenants.a
    with schema_context(a.schema):
        secret = governance.secret_set(name="woo", value=PLAINTEXT, actor=Actor.system("tests"))
    admin = Client(HTTP_HOST=a.host)
    with schema_context(a.schema):
        assert admin.login(username=a.admin_email, password=a.password)
    for url in ("/admin/governance/secret/", f"/admin/governance/secret/{secret.pk}/change/"):
        page = admin.get(url)
        assert page.status_code == 200
        assert PLAINTEXT.encode() not in page.content
    api = api_client_for(a.host, token=login_token(a, a.admin_email))
    created = api.post("/api/v1/api-keys", {"name": "shown-once", "role": "analyst"}, format="json").json()
    plaintext = created["key"]
    assert api.get("/api/v1/api-keys").content.count(plaintext.encode()) == 0
    assert plaintext.encode() not in api.get(f"/api/v1/api-keys/{created['id']}").content
    with schema_context(a.schema):
        stored = ApiKey.objects.get(pk=created["id"])
    assert plaintext not in (stored.key_hash, stored.prefix)
    assert len(stored.key_hash) == 64
