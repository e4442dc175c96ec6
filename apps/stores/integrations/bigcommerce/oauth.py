"""BigCommerce app OAuth (api-contracts.md §3 "App OAuth"): the authorization-code exchange at the login
host, the store hash inside a ``context``, and the ``signed_payload_jwt`` of the load, uninstall and
remove_user callbacks (HS256, keyed by the app's client secret), verified with the standard library.

Nothing here logs or repeats a code, a token or a secret: errors say what failed, never with what.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from typing import Any

from apps.stores.integrations.base import HttpClient, PlatformError

STORE_HASH = re.compile(r"[A-Za-z0-9]{1,64}")
JWT_LEEWAY_S = 60  # clock skew tolerated on ``exp`` and ``nbf``


def store_hash_of(context: str) -> str:
    """``"stores/abc123"`` → ``"abc123"``; anything else is refused."""
    prefix, _, store_hash = (context or "").partition("/")
    if prefix != "stores" or not STORE_HASH.fullmatch(store_hash):
        raise PlatformError("BigCommerce context is not of the form stores/<hash>")
    return store_hash


def token_request(
    *,
    login_base: str,
    client_id: str,
    client_secret: str,
    code: str,
    context: str,
    scope: str,
    redirect_uri: str,
) -> dict[str, Any]:
    """Exchange the auth callback's code for the store's permanent access token. The answer carries
    ``access_token``, ``scope``, ``user``, ``owner``, ``context`` ("stores/{hash}") and ``account_uuid``."""
    store_hash_of(context)
    http = HttpClient(
        base_url=login_base,
        headers={"Accept": "application/json", "Content-Type": "application/json"},
        max_attempts=3,
    )
    payload = {
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "context": context,
        "scope": scope,
        "grant_type": "authorization_code",
        "redirect_uri": redirect_uri,
    }
    try:
        response = http.request("POST", "oauth2/token", json=payload)
        body = response.json()
    except PlatformError as exc:
        # A refused code or client is a PlatformError, never AuthExpired: there is no token to refresh.
        raise PlatformError(
            f"BigCommerce token request failed ({exc.status})", status=exc.status, transient=exc.transient
        ) from None
    except ValueError:
        raise PlatformError("BigCommerce answered the token request with something not JSON") from None
    if not isinstance(body, dict) or not body.get("access_token"):
        raise PlatformError("BigCommerce answered the token request without a token")
    if store_hash_of(str(body.get("context") or "")) != store_hash_of(context):
        raise PlatformError("BigCommerce granted a token for another store than the callback named")
    return body


def _b64url(part: str) -> bytes:
    try:
        return base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise PlatformError("signed payload: not base64url") from None


def _json_part(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url(part))
    except (ValueError, UnicodeDecodeError):
        raise PlatformError("signed payload: not JSON") from None
    if not isinstance(value, dict):
        raise PlatformError("signed payload: not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlatformError(f"signed payload: {name} missing or not a number")
    return float(value)


def verify_signed_payload_jwt(
    token: str, *, client_id: str, client_secret: str, now: float | None = None
) -> dict[str, Any]:
    """The claims of a load/uninstall/remove_user callback's ``signed_payload_jwt``, after checking the
    HS256 signature with the client secret, ``aud`` (our client id), ``iss`` ("bc"), ``sub``
    ("stores/{hash}"), ``exp`` and ``nbf`` (±``JWT_LEEWAY_S``). Any failure raises ``PlatformError``."""
    if not client_secret:
        raise PlatformError("signed payload: no client secret configured")
    parts = (token or "").split(".")
    if len(parts) != 3 or not all(parts):
        raise PlatformError("signed payload: not a JWT")
    header = _json_part(parts[0])
    if header.get("alg") != "HS256":
        raise PlatformError("signed payload: algorithm is not HS256")
    expected = hmac.new(client_secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url(parts[2])):
        raise PlatformError("signed payload: bad signature")
    claims = _json_part(parts[1])
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if not client_id or client_id not in audiences:
        raise PlatformError("signed payload: issued for another app (aud)")
    if claims.get("iss") != "bc":
        raise PlatformError("signed payload: not issued by BigCommerce (iss)")
    store_hash_of(str(claims.get("sub") or ""))
    moment = time.time() if now is None else now
    expires = _number(claims, "exp", required=True)
    if expires is not None and moment > expires + JWT_LEEWAY_S:
        raise PlatformError("signed payload: expired")
    not_before = _number(claims, "nbf", required=False)
    if not_before is not None and moment + JWT_LEEWAY_S < not_before:
        raise PlatformError("signed payload: not valid yet (nbf)")
    return claims
