"""Shared set-up of the stores benchmarks: PostgreSQL and Redis (``DATABASE_URL``/``REDIS_URL``, else
embedded servers under .kiki/bench), Django on the ``kiki_bench`` database (migrated), and a
``bench`` workspace made afresh before each benchmark."""

from __future__ import annotations

import os
from pathlib import Path

from apps.core.actor import Actor

ROOT = Path(__file__).resolve().parent.parent
_ready = False


def django_ready() -> str:
    """Start (or reuse) the services, set up Django, migrate; returns the DATABASE_URL used."""
    global _ready
    if not _ready:
        from kiki_project.devstack import DEFAULT_DATA_DIR, ensure_stack

        base = os.environ.get("DATABASE_URL")
        if base:
            os.environ["DATABASE_URL"] = base.rsplit("/", 1)[0] + "/kiki_bench"
            _create_database(os.environ["DATABASE_URL"])
        stack = ensure_stack(data_dir=DEFAULT_DATA_DIR / "bench", database="kiki_bench")
        os.environ.update(stack.env())
        os.environ.setdefault("KIKI_REDIS_DB_BASE", "4")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kiki_project.settings")
        os.environ.setdefault("KIKI_STORES_ALLOW_HTTP", "1")
        import django
        from django.core.management import call_command

        django.setup()
        call_command("kiki_bootstrap", verbosity=0)
        _ready = True
    return os.environ["DATABASE_URL"]


def _create_database(url: str) -> None:
    import psycopg

    admin, _, name = url.rpartition("/")
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def bench_workspace(slug: str = "bench") -> str:
    """A fresh workspace (the previous run's schema is dropped, so that its dead rows and bloated
    indexes do not slow this run down); returns its schema."""
    from apps.governance.tenancy.models import Tenant
    from apps.governance.tenancy.services import SignupRequest, tenant_signup

    old = Tenant.objects.filter(slug=slug).first()
    if old is not None:
        old.delete(force_drop=True)
    tenant_signup(
        SignupRequest(
            name="Bench Co", slug=slug, admin_email=f"admin@{slug}.test", password="Bench-Pass-2026-x"
        ),
        actor=Actor.system("bench"),
    )
    return str(Tenant.objects.get(slug=slug).schema_name)
