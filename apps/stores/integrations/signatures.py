"""Webhook and OAuth signatures of the store platforms: pure functions over raw bytes, compared in
constant time. Test vectors from ``../shared/api-contracts.md`` (V1–V11) bind each one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence


def _b64_hmac_sha256(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- Shopify ------------------------------------------------------------------------------------------
def shopify_webhook_signature(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 (not hex) of HMAC-SHA256 over the raw body (V1)."""
    return _b64_hmac_sha256(secret.encode(), body)


def shopify_webhook_valid(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and equal(shopify_webhook_signature(secret, body), str(header))


def _shopify_escape(value: str, *, key: bool) -> str:
    value = value.replace("%", "%25").replace("&", "%26")
    return value.replace("=", "%3D") if key else value


def shopify_query_hmac(secret: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """The OAuth callback's ``hmac``: lowercase hex over the sorted params without hmac/signature,
    escaped as shopify_python_api does (V2–V5)."""
    parts = []
    for name in sorted(k for k in params if k not in ("hmac", "signature")):
        value = params[name]
        if isinstance(value, (list, tuple)):
            if name.endswith("[]"):
                text = json.dumps([str(v) for v in value], separators=(", ", ":"))
                name = name[:-2]
            else:
                text = str(value[-1])
        else:
            text = str(value)
        parts.append(f"{_shopify_escape(name, key=True)}={_shopify_escape(text, key=False)}")
    return hmac.new(secret.encode(), "&".join(parts).encode(), hashlib.sha256).hexdigest()


def shopify_query_valid(
    secret: str,
    params: Mapping[str, str | Sequence[str]],
    *,
    max_age_s: int | None = 90,
    now: float | None = None,
) -> bool:
    """The callback's HMAC matches and its ``timestamp`` is within ``max_age_s`` of now (None: no age
    check, for the vectors of 2012)."""
    given = params.get("hmac")
    if not isinstance(given, str) or not equal(shopify_query_hmac(secret, params), given):
        return False
    if max_age_s is None:
        return True
    try:
        stamp = int(str(params.get("timestamp")))
    except ValueError:
        return False
    return abs((now if now is not None else time.time()) - stamp) <= max_age_s


# --- WooCommerce --------------------------------------------------------------------------------------
def woocommerce_webhook_signature(secret: str, body: bytes) -> str:
    """``X-WC-Webhook-Signature``: base64 HMAC-SHA256 of the delivered body (V10, V11)."""
    return _b64_hmac_sha256(secret.encode(), body)


def woocommerce_webhook_valid(secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and equal(woocommerce_webhook_signature(secret, body), str(header))


# --- BigCommerce (Standard Webhooks) -------------------------------------------------------------------
def standard_webhook_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 over ``{id}.{timestamp}.{body}`` (V7, V8).
    BigCommerce's key is the app's client secret as UTF-8 bytes."""
    return "v1," + _b64_hmac_sha256(key, f"{msg_id}.{timestamp}.".encode() + body)


def standard_webhook_valid(
    key: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int | None = 300,
    now: float | None = None,
) -> bool:
    """Any ``v1,`` signature in the space-separated header matches, and the timestamp is within the
    tolerance (5 minutes; None: no check, for fixed vectors)."""
    msg_id, stamp, signatures = (
        headers.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    if not (msg_id and stamp and signatures):
        return False
    if tolerance_s is not None:
        try:
            if abs((now if now is not None else time.time()) - int(stamp)) > tolerance_s:
                return False
        except ValueError:
            return False
    expected = standard_webhook_signature(key, msg_id, stamp, body)
    return any(equal(expected, candidate) for candidate in signatures.split() if candidate.startswith("v1,"))
