"""How the webhook endpoint reads each platform's deliveries: where the signature and the topic are,
which store a delivery is for, and what a delivery's id is (the dedupe key). Signatures are checked
on the raw bytes before anything is parsed; a platform whose secret is per store (WooCommerce) names
the store in the URL we registered, the others are verified with the app's secret first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from apps.stores.integrations import signatures


@dataclass(frozen=True)
class Identity:
    topic: str  # normalised: orders/create, products/update, inventory_levels/update, app/uninstalled…
    delivery_id: str
    store_key: dict[str, Any]  # how to find the store: {"shop_domain": …} or {"pk": …}


class Receiver(Protocol):
    platform: str
    secret_per_store: bool

    def is_ping(self, headers: dict[str, str], body: bytes) -> bool: ...

    def verify(self, headers: dict[str, str], body: bytes, secret: str) -> bool: ...

    def identify(self, headers: dict[str, str], body: bytes, store_id: int | None) -> Identity: ...


class ShopifyReceiver:
    platform = "shopify"
    secret_per_store = False

    def is_ping(self, headers: dict[str, str], body: bytes) -> bool:
        return False

    def verify(self, headers: dict[str, str], body: bytes, secret: str) -> bool:
        return signatures.shopify_webhook_valid(
            settings.KIKI_SHOPIFY_CLIENT_SECRET, body, headers.get("x-shopify-hmac-sha256")
        )

    def identify(self, headers: dict[str, str], body: bytes, store_id: int | None) -> Identity:
        delivery = headers.get("x-shopify-webhook-id") or headers.get("x-shopify-event-id") or ""
        return Identity(
            topic=headers.get("x-shopify-topic", ""),
            delivery_id=delivery,
            store_key={"shop_domain": headers.get("x-shopify-shop-domain", "").lower()},
        )


def _receivers() -> dict[str, Receiver]:
    from apps.stores.integrations.bigcommerce.receiver import BigCommerceReceiver
    from apps.stores.integrations.woocommerce.receiver import WooCommerceReceiver

    return {
        "shopify": ShopifyReceiver(),
        "woocommerce": WooCommerceReceiver(),
        "bigcommerce": BigCommerceReceiver(),
    }


RECEIVERS: dict[str, Receiver] = _receivers()


def json_or_error(body: bytes) -> tuple[Any, str]:
    try:
        return json.loads(body), ""
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"the body is not JSON ({type(exc).__name__})"
