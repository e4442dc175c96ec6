"""Operators' signup: the same service as the web and API signup, with the same validation."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.actor import Actor
from apps.governance.tenancy.errors import TenancyError
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.services import SignupRequest, tenant_signup


class Command(BaseCommand):
    help = "Create a tenant (schema + domain + first Admin user). Password from --password, $KIKI_ADMIN_PASSWORD or a prompt."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True, help="Company name")
        parser.add_argument("--slug", required=True, help="Workspace address: <slug>.<KIKI_BASE_DOMAIN>")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--password", help="Avoid on shared machines (shell history); prefer the prompt")
        parser.add_argument("--plan", default=Tenant.Plan.TRIAL, choices=Tenant.Plan.values)

    def handle(self, *args: Any, **opts: Any) -> None:
        password = opts["password"] or os.environ.get("KIKI_ADMIN_PASSWORD")
        if not password:
            if not os.isatty(0):
                raise CommandError(
                    "no password: pass --password, set KIKI_ADMIN_PASSWORD or run interactively"
                )
            password = getpass.getpass("Admin password: ")
        req = SignupRequest(
            name=opts["name"],
            slug=opts["slug"],
            admin_email=opts["admin_email"],
            password=password,
            plan=opts["plan"],
        )
        try:
            result = tenant_signup(req, actor=Actor.system("cli:create_tenant_account"))
        except TenancyError as exc:
            fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.details.items())
            raise CommandError(f"{exc.message} {fields}".strip()) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"created tenant '{result.slug}' at {result.domain} with Admin {result.admin_email}"
            )
        )
