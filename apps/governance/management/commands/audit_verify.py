"""Verify the audit chain of every workspace (or one): ``manage.py audit_verify [--tenant SCHEMA]``.

Prints one line per workspace and records each check (the admin shows the latest). Exits 1 when any
chain is broken, naming its first bad entry; 2 for an unknown workspace.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_tenants.utils import tenant_context

from apps.core.actor import Actor
from apps.governance import services
from apps.governance.management.commands._audit import EXIT_BROKEN, audit_tenants


class Command(BaseCommand):
    help = "Verify every workspace's audit hash chain (or one with --tenant); exit 1 if any is broken."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SCHEMA", help="only this workspace (schema name or slug)")

    def handle(self, *args: Any, tenant: str | None = None, **options: Any) -> None:
        actor = Actor.system("command:audit_verify")
        broken: list[str] = []
        tenants = audit_tenants(tenant)
        for workspace in tenants:
            with tenant_context(workspace):
                verdict = services.audit_verify_chain(actor=actor)
            name = workspace.schema_name
            if verdict.ok:
                self.stdout.write(f"{name}: ok, {verdict.entries} entries, head {verdict.head_hash}")
            else:
                broken.append(name)
                self.stdout.write(
                    f"{name}: BROKEN at entry {verdict.first_bad_sequence}: {verdict.reason} "
                    f"({verdict.entries} entries verified before it)"
                )
        if broken:
            raise CommandError(
                f"{len(broken)} of {len(tenants)} audit chains broken: {', '.join(broken)}",
                returncode=EXIT_BROKEN,
            )
