"""How the webhook endpoint reads WooCommerce deliveries (api-contracts.md §2).

The secret is the store's own (we set it when registering), so the store is named in the URL we
registered (``/webhooks/woocommerce/<store id>``) and the endpoint passes its id and secret in.
The signature is ``X-WC-Webhook-Signature``, base64 HMAC-SHA256 of the raw body (V10, V11). The
dedupe key is ``X-WC-Webhook-Delivery-ID``. When a webhook is created, WooCommerce first sends an
unsigned form-encoded ``webhook_id=<id>`` ping, which must be answered 200 and nothing more.
"""

from __future__ import annotations

import re

from apps.stores.integrations import signatures
from apps.stores.integrations.receivers import Identity
from apps.stores.integrations.woocommerce.adapter import WEBHOOK_TOPICS

_PING = re.compile(rb"webhook_id=\d+")


def _lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


class WooCommerceReceiver:
    platform = "woocommerce"
    secret_per_store = True

    def is_ping(self, headers: dict[str, str], body: bytes) -> bool:
        """The creation ping: no signature, and a body that is only ``webhook_id=<digits>``."""
        return "x-wc-webhook-signature" not in _lower(headers) and _PING.fullmatch(body.strip()) is not None

    def verify(self, headers: dict[str, str], body: bytes, secret: str) -> bool:
        """The raw body's signature under the store's secret. A store without a secret accepts
        nothing: WooCommerce would sign with the empty key, which anyone can do."""
        return bool(secret) and signatures.woocommerce_webhook_valid(
            secret, body, _lower(headers).get("x-wc-webhook-signature")
        )

    def identify(self, headers: dict[str, str], body: bytes, store_id: int | None) -> Identity:
        h = _lower(headers)
        topic = h.get("x-wc-webhook-topic", "")
        return Identity(
            topic=WEBHOOK_TOPICS.get(topic, topic),
            delivery_id=h.get("x-wc-webhook-delivery-id", ""),
            store_key={"pk": store_id},
        )
