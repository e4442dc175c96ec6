"""Routes for the stores connected before the registry existed (once; idempotent if run again)."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def backfill(apps: Any, schema_editor: Any) -> None:
    from apps.stores.routing.services import routes_backfill

    routes_backfill()


class Migration(migrations.Migration):
    dependencies = [("store_routing", "0001_store_route_registry")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
