"""Re-encrypt every encrypted value under the primary key (the first in KIKI_ENCRYPTION_KEYS).

Rotation: put the new key first, keep the old one after it, run this, then drop the old key.
Runs over every tenant schema (and the template); idempotent and resumable: rows already under the
primary key are skipped. Each workspace is rewritten in one transaction that ends with its audit entry
(``encryption_key.rotate``: the key ids and how many values of which fields moved, never a value), so
a workspace's values and its record of the rotation commit together; a run stopped half-way leaves
each workspace either rotated and audited or untouched. The template schema is rotated unaudited (it
is no workspace, and every new workspace starts as a copy of it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django_tenants.utils import get_tenant_model, schema_context, schema_exists

from apps.core.actor import Actor
from apps.core.crypto import CryptoError, key_id_of, keyring
from apps.core.fields import EncryptedTextField
from apps.governance import services as governance


def encrypted_fields() -> list[tuple[Any, EncryptedTextField]]:
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field))
    return found


def rotate_schema(schema: str, *, actor: Actor | None = None) -> tuple[int, int]:
    """(rewritten, already current) for one schema, in one transaction; audited in a workspace's
    chain when anything was rewritten."""
    ring = keyring()
    rewritten = current = 0
    moved: Counter[str] = Counter()
    from_keys: Counter[str] = Counter()
    with schema_context(schema), transaction.atomic():
        for model, field in encrypted_fields():
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(field.column)
            pk = connection.ops.quote_name(model._meta.pk.column)
            with connection.cursor() as cur:
                # Identifiers come from model metadata, quoted by the backend; values are parameters.
                query = f"SELECT {pk}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> ''"  # noqa: S608
                cur.execute(query)
                rows = cur.fetchall()
            for row_pk, token in rows:
                if key_id_of(token) == ring.primary_id:
                    current += 1
                    continue
                plaintext = ring.decrypt(token, purpose=str(field.purpose))
                fresh = ring.encrypt(plaintext, purpose=str(field.purpose))
                with connection.cursor() as cur:
                    update = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s"  # noqa: S608
                    cur.execute(update, [fresh, row_pk, token])
                    if cur.rowcount != 1:  # changed meanwhile (by a writer, under the primary key)
                        continue
                rewritten += 1
                moved[f"{model._meta.label_lower}.{field.name}"] += 1
                from_keys[str(key_id_of(token))] += 1
        if rewritten and schema != settings.TENANT_BASE_SCHEMA:
            governance.audit_record(
                actor=actor or Actor.system("cli:rotate_encryption_key"),
                action="encryption_key.rotate",
                object_type="core.encryptionkey",
                object_id=ring.primary_id,
                before={"key_ids": dict(sorted(from_keys.items()))},
                after={
                    "key_id": ring.primary_id,
                    "reencrypted": rewritten,
                    "fields": dict(sorted(moved.items())),
                },
            )
    return rewritten, current


class Command(BaseCommand):
    help = "Re-encrypt all secrets under the primary key of KIKI_ENCRYPTION_KEYS, in every tenant."

    def handle(self, *args: Any, **options: Any) -> None:
        schemas = list(
            get_tenant_model().objects.exclude(schema_name="public").values_list("schema_name", flat=True)
        )
        if schema_exists(settings.TENANT_BASE_SCHEMA):
            schemas.append(settings.TENANT_BASE_SCHEMA)
        total = 0
        for schema in schemas:
            try:
                rewritten, current = rotate_schema(schema)
            except CryptoError as exc:
                raise CommandError(f"{schema}: {exc}") from exc
            total += rewritten
            self.stdout.write(f"{schema}: re-encrypted {rewritten}, already current {current}")
        self.stdout.write(
            self.style.SUCCESS(f"done: {total} value(s) now under key '{keyring().primary_id}'")
        )
