"""The demo workspace `make run` shows a new user: tenant `demo` with an Admin and an Analyst login,
an integration API key and a first access-review report. Idempotent; refuses to run in production."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.governance import services as governance
from apps.governance.models import ApiKey, ReportRun
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.selectors import tenant_base_url
from apps.governance.tenancy.services import SignupRequest, tenant_signup

DEMO_SLUG = "demo"
DEMO_ADMIN = "admin@demo.kiki.local"
DEMO_ANALYST = "analyst@demo.kiki.local"


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
        base = tenant_base_url(tenant)
        self.stdout.write(self.style.SUCCESS(f"demo workspace: {base}/admin/"))
        self.stdout.write(f"  Admin   {DEMO_ADMIN} / {password}")
        self.stdout.write(f"  Analyst {DEMO_ANALYST} / {password}")
