"""The shop → workspace registry (public schema).

Some platform callbacks are configured once per app, not per workspace: Shopify's mandatory compliance
webhooks and BigCommerce's auth/load/uninstall callbacks reach one URL on the public host. A route
names the workspace holding the shop, so such a delivery is handed to that workspace's schema and no
other. Rows are written only by ``apps.stores.routing.services``, called by the stores services that
connect (``_save_connecting``), uninstall (``store_uninstalled``) and redact (``store_redact``) a store.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower


class StoreRoute(models.Model):
    class Platform(models.TextChoices):
        SHOPIFY = "shopify", "Shopify"
        BIGCOMMERCE = "bigcommerce", "BigCommerce"

    platform = models.CharField(max_length=20, choices=Platform.choices)
    key = models.CharField(
        max_length=255, help_text="Shopify: the shop's myshopify.com domain; BigCommerce: the store hash."
    )
    tenant = models.ForeignKey(settings.TENANT_MODEL, on_delete=models.CASCADE, related_name="store_routes")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    uninstalled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The app was removed; the route stays for the privacy callbacks that follow (shop/redact).",
    )

    class Meta:
        ordering = ["platform", "key"]
        constraints = [
            # One workspace per shop: a callback can never be handed to two.
            models.UniqueConstraint(fields=["platform", "key"], name="store_route_unique_key"),
            models.CheckConstraint(
                condition=Q(platform__in=["shopify", "bigcommerce"]), name="store_route_platform_valid"
            ),
            models.CheckConstraint(condition=Q(key=Lower("key")) & ~Q(key=""), name="store_route_key_lower"),
        ]

    def __str__(self) -> str:
        return f"{self.platform}:{self.key}"
