"""How the webhook endpoint reads a BigCommerce callback (api-contracts.md §3 "Webhooks"): Standard
Webhooks signature headers keyed by the app's client secret (V7, V8), then the thin JSON body names
the scope, the store (``producer: "stores/{hash}"``) and the event.

The dedupe key: ``hash`` is the SHA-1 of ``data`` alone, and an order's ``store/order/updated`` data is
only ``{type, id}``, so every later update of that order would carry the hash of the first; used alone
it would drop them as duplicates for good. The key is ``hash`` with the event's ``created_at``, which
a retry of the same event repeats and a new event does not; the ``webhook-id`` header (the Standard
Webhooks message id, signed) stands in when the body lacks them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.stores.integrations.bigcommerce.adapter import WEBHOOK_TOPICS
from apps.stores.integrations.bigcommerce.oauth import STORE_HASH
from apps.stores.integrations.signatures import standard_webhook_valid

if TYPE_CHECKING:
    from apps.stores.integrations.receivers import Identity


def delivery_id_of(body: dict[str, Any], headers: dict[str, str]) -> str:
    digest = str(body.get("hash") or "")
    created = body.get("created_at")
    if digest and created is not None:
        return f"{digest}:{created}"
    return digest or headers.get("webhook-id", "")


class BigCommerceReceiver:
    platform = "bigcommerce"
    secret_per_store = False

    def is_ping(self, headers: dict[str, str], body: bytes) -> bool:
        return False

    def verify(self, headers: dict[str, str], body: bytes, secret: str) -> bool:
        key = settings.KIKI_BIGCOMMERCE_CLIENT_SECRET
        if not key:  # no app secret configured: an empty HMAC key would accept anyone's signature
            return False
        return standard_webhook_valid(key.encode(), headers, body)

    def identify(self, headers: dict[str, str], body: bytes, store_id: int | None) -> Identity:
        # Imported here: receivers.py imports this module to register the class.
        from apps.stores.integrations.receivers import Identity

        malformed = Identity(topic="", delivery_id="", store_key={})
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return malformed
        if not isinstance(payload, dict):
            return malformed
        prefix, _, store_hash = str(payload.get("producer") or "").partition("/")
        scope = str(payload.get("scope") or "")
        if prefix != "stores" or not STORE_HASH.fullmatch(store_hash) or not scope:
            return malformed
        return Identity(
            topic=WEBHOOK_TOPICS.get(scope, scope),
            delivery_id=delivery_id_of(payload, headers),
            store_key={"shop_domain": store_hash.lower()},
        )
