"""Export one workspace's audit chain as a bundle: ``manage.py audit_export --tenant SCHEMA --out DIR``.

Writes ``DIR/entries.jsonl`` (one canonical JSON entry per line, hash included) and ``DIR/head.json``
(schema, count, head_hash, exported_at). Check it anywhere with ``python -m apps.governance.verify_bundle DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_tenants.utils import tenant_context

from apps.governance import services
from apps.governance.management.commands._audit import audit_tenants


class Command(BaseCommand):
    help = "Write a workspace's audit trail as entries.jsonl + head.json, verifiable offline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="SCHEMA", required=True, help="schema name or slug")
        parser.add_argument("--out", metavar="DIR", required=True, type=Path, help="directory to write")

    def handle(self, *args: Any, tenant: str, out: Path, **options: Any) -> None:
        (workspace,) = audit_tenants(tenant)
        with tenant_context(workspace):
            export = services.audit_export(out_dir=out)
        self.stdout.write(
            f"{export.schema}: wrote {export.count} entries to {export.directory / 'entries.jsonl'}, "
            f"head {export.head_hash}"
        )
