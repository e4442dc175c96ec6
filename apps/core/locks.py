"""PostgreSQL transaction-level advisory locks: the one way services serialise work on a key."""

from __future__ import annotations

from django.db import connection


def advisory_xact_lock(key: str, *, namespace: int | None = None, shared: bool = False) -> None:
    """Hold a lock on ``key`` (hashed; within ``namespace``, a 32-bit class, when given) until the
    current transaction ends; ``shared`` takes it in shared mode (exclusive holders wait for all)."""
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        if namespace is None:
            cursor.execute(f"SELECT {fn}(hashtext(%s))", [key])
        else:
            cursor.execute(f"SELECT {fn}(%s, hashtext(%s))", [namespace, key])
