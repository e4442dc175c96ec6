"""The error vocabulary shared by every app: a code Enum + one exception type per app."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION = "validation_error"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    PERMISSION_DENIED = "permission_denied"
    NOT_AUTHENTICATED = "not_authenticated"
    THROTTLED = "throttled"
    PUBLIC_SCHEMA = "no_tenant"
    UPSTREAM = "upstream_error"
    INTERNAL = "internal_error"


class KikiError(Exception):
    """Base of every domain error. Subclasses (one per app) set ``http_status`` defaults by code."""

    status_by_code: dict[str, int] = {
        ErrorCode.VALIDATION: 400,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.CONFLICT: 409,
        ErrorCode.PERMISSION_DENIED: 403,
        ErrorCode.NOT_AUTHENTICATED: 401,
        ErrorCode.THROTTLED: 429,
        ErrorCode.PUBLIC_SCHEMA: 400,
        ErrorCode.UPSTREAM: 502,
        ErrorCode.INTERNAL: 500,
    }

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.details = details or {}
        self.http_status = http_status or self.status_by_code.get(self.code, 400)


class TenantRequired(KikiError):
    """A tenant service was called in the public schema: fail closed."""

    def __init__(self, what: str = "this operation") -> None:
        super().__init__(ErrorCode.PUBLIC_SCHEMA, f"{what} needs a tenant; none is active", http_status=400)
