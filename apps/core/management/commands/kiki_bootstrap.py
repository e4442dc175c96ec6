"""Bring the database to a runnable state, idempotently: public schema, public host names, the
tenant template schema every signup clones, and every tenant's migrations."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django_tenants.utils import schema_exists

from apps.core.tenant_context import set_public_schema
from apps.governance.tenancy.services import public_tenant_ensure


class Command(BaseCommand):
    help = "Migrate public, the tenant template and all tenants; ensure the public tenant and hosts."

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options.get("verbosity", 1))
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=max(0, verbosity - 1))
        public_tenant_ensure()
        template = settings.TENANT_BASE_SCHEMA
        if not schema_exists(template):
            with connection.cursor() as cur:
                cur.execute(f'CREATE SCHEMA "{template}"')
        call_command(
            "migrate_schemas",
            tenant=True,
            schema_name=template,
            interactive=False,
            verbosity=max(0, verbosity - 1),
        )
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=max(0, verbosity - 1))
        set_public_schema()
        if verbosity:
            self.stdout.write(self.style.SUCCESS("database ready (public, template, tenants migrated)"))
