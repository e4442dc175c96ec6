"""One-time sign-in hand-off from the public host (signup) to the tenant host (its own cookies).

A signed token (60 s, single use: its nonce is burnt in Redis) carries the tenant schema and user id.
"""

from __future__ import annotations

import secrets

from django.core import signing

from apps.core.redis import get_redis

SALT = "kiki.tenancy.handoff"
MAX_AGE_S = 60


def handoff_issue(*, schema_name: str, user_id: int) -> str:
    return signing.dumps({"s": schema_name, "u": user_id, "n": secrets.token_urlsafe(12)}, salt=SALT)


def handoff_redeem(token: str, *, schema_name: str) -> int | None:
    """The user id if the token is valid, fresh, unused and for this schema; else None."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE_S)
    except signing.BadSignature:
        return None
    if data.get("s") != schema_name:
        return None
    burnt = get_redis().set(f"kiki:handoff:{data['n']}", 1, nx=True, ex=MAX_AGE_S * 2)
    return int(data["u"]) if burnt else None
