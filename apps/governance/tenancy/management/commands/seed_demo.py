"""The demo workspace `make run` shows a new user: tenant `demo` with an Admin and an Analyst login,
an integration API key, a first access-review report, and a sandbox store with two years of generated
orders (ml.ltv.synth) plus a requested LTV training run, which the Celery worker trains once it starts
(customers get BG/NBD+GG scores first, then the promoted model's). With the ads sandbox of ``make run``
(``KIKI_ADS_SANDBOX``), also one ad account per platform with its campaigns, two weeks of their spend,
a demo policy (still in dry run) and a first batch of bid decisions; without it, nothing ad-related.
Idempotent; refuses to run in production."""

from __future__ import annotations

import os
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.bidding import services as bidding
from apps.core.actor import Actor
from apps.core.errors import KikiError
from apps.core.money import today_utc
from apps.governance import services as governance
from apps.governance.models import ApiKey, PolicyVersion, ReportRun
from apps.governance.tenancy.models import Tenant
from apps.governance.tenancy.selectors import tenant_base_url
from apps.governance.tenancy.services import SignupRequest, tenant_signup

DEMO_SLUG = "demo"
DEMO_ADMIN = "admin@demo.kiki.local"
DEMO_ANALYST = "analyst@demo.kiki.local"
DEMO_STORE = "Demo store (sandbox)"
DEMO_CUSTOMERS = 2000
DEMO_DAYS = 730
SEED_DEMO = Actor.system("seed_demo")
DEMO_POLICY_REASON = "demo policy"
DEMO_POLICY = {
    "max_bid_micros": 5_000_000,  # $5
    "campaign_daily_cap_micros": 150_000_000,  # $150 a day per campaign
    "allowed_platforms": ["google_ads", "meta", "tiktok"],  # LinkedIn: spend reports only, no bids
    "approval_threshold_micros": 100_000_000,  # a bid, budget change or spend above $100 waits for a person
    "dry_run": True,  # new workspaces start in dry run; only an Admin turns it off
}
DEMO_PROMOTED_PRODUCTS = 30


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
                actor=SEED_DEMO,
            )
            tenant = Tenant.objects.get(slug=DEMO_SLUG)
        with schema_context(tenant.schema_name):
            users = get_user_model().objects
            if not users.filter(username=DEMO_ANALYST).exists():
                governance.user_create(email=DEMO_ANALYST, password=password, role="analyst", actor=SEED_DEMO)
            if not ApiKey.objects.filter(name="Demo integration").exists():
                issued = governance.apikey_create(name="Demo integration", role="analyst", actor=SEED_DEMO)
                self.stdout.write(f"demo API key (analyst, shown once): {issued.plaintext}")
            if not ReportRun.objects.exists():
                run = ReportRun.objects.create(kind=ReportRun.Kind.ACCESS_REVIEW, requested_by="seed_demo")
                governance.report_execute(run_id=run.pk)
            if settings.KIKI_SANDBOX_SHOP:
                self._sandbox_shopify(tenant)
            else:
                self._sandbox_store()
            if settings.KIKI_ADS_SANDBOX:
                self._sandbox_ads()
        base = tenant_base_url(tenant)
        self.stdout.write(self.style.SUCCESS(f"demo workspace: {base}/admin/"))
        self.stdout.write(f"  Admin   {DEMO_ADMIN} / {password}")
        self.stdout.write(f"  Analyst {DEMO_ANALYST} / {password}")

    def _sandbox_shopify(self, tenant: Tenant) -> None:
        """Connect the sandbox Shopify (``make run`` starts it) through the real install flow: the
        install URL, the fake's approval redirect (code, state, HMAC), the callback service. The
        Celery worker then registers the webhooks, syncs and computes the baseline; a first LTV model
        is trained when the sync is done."""
        from urllib.parse import parse_qsl, urlsplit

        import requests

        from apps.stores import selectors as store_reads
        from apps.stores import services as stores

        if store_reads.store_exists(platform="shopify", shop_domain=settings.KIKI_SANDBOX_SHOP):
            return
        callback = f"{tenant_base_url(tenant)}/stores/oauth/shopify/callback"
        url = stores.shopify_install_start(
            shop=settings.KIKI_SANDBOX_SHOP, redirect_uri=callback, actor=SEED_DEMO
        )
        approved = requests.get(url, allow_redirects=False, timeout=30)
        if approved.status_code != 302:
            raise CommandError(f"the sandbox Shopify refused the install ({approved.status_code})")
        params = dict(parse_qsl(urlsplit(approved.headers["Location"]).query))
        store = stores.shopify_connect(params=params)
        self.stdout.write(
            f"sandbox Shopify store '{store.name}' ({store.shop_domain}) connected; the worker syncs it "
            "now, then trains a first LTV model"
        )

    def _sandbox_store(self) -> None:
        """A manual store with generated orders ending yesterday, and a first LTV training request."""
        from apps.stores import selectors as store_reads
        from apps.stores import services as stores

        if store_reads.store_exists(name=DEMO_STORE):
            return
        store = stores.store_create(name=DEMO_STORE, currency="USD", actor=SEED_DEMO)
        end = today_utc() - timedelta(days=1)
        sim = bidding.ltv_simulate(DEMO_CUSTOMERS, end=end, days=DEMO_DAYS, seed=7, channels=True)
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
                store=store, orders=orders[start : start + stores.MAX_ORDERS_PER_CALL], actor=SEED_DEMO
            )
        self.stdout.write(f"demo sandbox store: {len(orders)} generated orders of {DEMO_CUSTOMERS} customers")
        try:
            run = bidding.ltv_training_request(actor=SEED_DEMO)
        except KikiError as exc:  # e.g. a run already in flight
            self.stdout.write(f"LTV training not requested: {exc.message}")
        else:
            self.stdout.write(
                f"LTV training run #{run.pk} requested; the Celery worker trains it after start-up"
            )

    def _sandbox_ads(self) -> None:
        """The ads sandbox (``make run`` starts it): its accounts and campaigns (promoting the demo
        store's products when the store has synced some), their spend so far, the demo policy and a
        first batch of bid decisions. Only the spend fetch reaches the sandbox; the rest is recorded."""
        from apps.stores import selectors as store_reads

        products = store_reads.products_in_stock(limit=DEMO_PROMOTED_PRODUCTS)
        ads = bidding.demo_ads_connect(promoted_products=products, actor=SEED_DEMO)
        if ads.accounts_connected or ads.campaigns_registered:
            self.stdout.write(
                f"ads sandbox: {ads.accounts_connected} ad accounts connected, {ads.campaigns_registered} "
                f"campaigns registered ({ads.products_promoted} promoted products"
                + ("" if products else "; the store has no synced products yet")
                + ")"
            )
        today = today_utc()
        for account_id in ads.account_ids:
            try:
                fetched = bidding.spend_fetch(
                    account_id=account_id,
                    day_from=today - timedelta(days=bidding.DEMO_SPEND_DAYS),
                    day_to=today,
                )
            except KikiError as exc:  # the sandbox went away, a breaker is open: the worker fetches hourly
                self.stdout.write(f"spend of ad account {account_id} not fetched: {exc.message}")
            else:
                if fetched.created:
                    self.stdout.write(
                        f"ad account {account_id}: {fetched.created} campaign-days of spend fetched"
                    )
        if not PolicyVersion.objects.filter(reason=DEMO_POLICY_REASON).exists():
            try:
                policy = governance.policy_update(
                    actor=SEED_DEMO, reason=DEMO_POLICY_REASON, changes=DEMO_POLICY
                )
            except KikiError as exc:  # e.g. an Admin already set exactly these rules
                self.stdout.write(f"demo policy not set: {exc.message}")
            else:
                self.stdout.write(
                    f"demo policy: version {policy.version} (dry run: nothing reaches a platform)"
                )
        batch = bidding.demo_bids_decide(campaign_ids=ads.campaign_ids, actor=SEED_DEMO)
        if batch is not None:
            kind = "audience" if all(s == "none" for s in batch.ltv_source) else "customer"
            self.stdout.write(f"first bid batch: {len(batch)} {kind} bid decisions (Bidding › Bid decisions)")
