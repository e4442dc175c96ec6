"""The demo workspace `make run` shows a new user: tenant `demo` with an Admin and an Analyst login,
an integration API key, a first access-review report, and a sandbox store with two years of generated
orders (ml.ltv.synth) plus a requested LTV training run, which the Celery worker trains once it starts
(customers get BG/NBD+GG scores first, then the promoted model's). Idempotent; refuses to run in
production."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.bidding import services as bidding
from apps.core.errors import KikiError
from apps.core.ml import ltv_simulate
from apps.governance import services as governance
from apps.governance.models import ApiKey, ReportRun
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.selectors import tenant_base_url
from apps.governance.tenancy.services import SignupRequest, tenant_signup

DEMO_SLUG = "demo"
DEMO_ADMIN = "admin@demo.kiki.local"
DEMO_ANALYST = "analyst@demo.kiki.local"
DEMO_STORE = "Demo store (sandbox)"
DEMO_CUSTOMERS = 2000
DEMO_DAYS = 730


class Command(BaseCommand):
    help = "Create (or top up) the demo tenant with logins and sample governance data."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("seed_demo creates known logins and never runs in production")
        password = os.environ.get("KIKI_DEMO_PASSWORD", "kiki-demo-Pass-2026")
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant_signup(
                SignupRequest(
                    name="Demo Outfitters", slug=DEMO_SLUG, admin_email=DEMO_ADMIN, password=password
                ),
                actor="seed_demo",
            )
            tenant = Tenant.objects.get(slug=DEMO_SLUG)
        with schema_context(tenant.schema_name):
            users = get_user_model().objects
            if not users.filter(username=DEMO_ANALYST).exists():
                governance.user_create(
                    email=DEMO_ANALYST, password=password, role="analyst", actor="seed_demo"
                )
            if not ApiKey.objects.filter(name="Demo integration").exists():
                issued = governance.apikey_create(name="Demo integration", role="analyst", actor=None)
                self.stdout.write(f"demo API key (analyst, shown once): {issued.plaintext}")
            if not ReportRun.objects.exists():
                run = ReportRun.objects.create(kind=ReportRun.Kind.ACCESS_REVIEW, requested_by="seed_demo")
                governance.report_execute(run_id=run.pk)
            self._sandbox_store()
        base = tenant_base_url(tenant)
        self.stdout.write(self.style.SUCCESS(f"demo workspace: {base}/admin/"))
        self.stdout.write(f"  Admin   {DEMO_ADMIN} / {password}")
        self.stdout.write(f"  Analyst {DEMO_ANALYST} / {password}")

    def _sandbox_store(self) -> None:
        """A manual store with generated orders ending yesterday, and a first LTV training request."""
        from apps.stores import selectors as store_reads
        from apps.stores import services as stores

        if store_reads.store_exists(name=DEMO_STORE):
            return
        store = stores.store_create(name=DEMO_STORE, currency="USD", actor="seed_demo")
        end = datetime.now(UTC).date() - timedelta(days=1)
        sim = ltv_simulate(DEMO_CUSTOMERS, end=end, days=DEMO_DAYS, seed=7, channels=True)
        orders = [
            stores.OrderInput(
                platform_id=f"demo-o{n}",
                number=f"#D{10000 + n}",
                placed_at=datetime.combine(day, time(12, 0), tzinfo=UTC),
                total=amount,
                subtotal=amount,
                customer=stores.CustomerInput(
                    platform_id=f"demo-c{c}",
                    email=f"customer{c}@demo-shop.example",
                    first_name="Demo",
                    last_name=f"Customer {c}",
                    acquisition_source=sim.channels[c],  # it changes how the customer buys
                ),
            )
            for n, (c, day, amount) in enumerate(zip(sim.customer, sim.dates, sim.amounts, strict=True))
        ]
        for start in range(0, len(orders), stores.MAX_ORDERS_PER_CALL):
            stores.orders_upsert(
                store=store, orders=orders[start : start + stores.MAX_ORDERS_PER_CALL], actor="seed_demo"
            )
        self.stdout.write(f"demo sandbox store: {len(orders)} generated orders of {DEMO_CUSTOMERS} customers")
        try:
            run = bidding.ltv_training_request(actor="seed_demo")
        except KikiError as exc:  # e.g. a run already in flight
            self.stdout.write(f"LTV training not requested: {exc.message}")
        else:
            self.stdout.write(
                f"LTV training run #{run.pk} requested; the Celery worker trains it after start-up"
            )
