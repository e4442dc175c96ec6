from __future__ import annotations

from typing import Any

from apps.core.errors import ErrorCode, KikiError


class TenancyError(KikiError):
    """Signup / tenant lifecycle errors. ``details`` maps field names to lists of messages."""

    @classmethod
    def invalid(cls, fields: dict[str, list[str]]) -> TenancyError:
        return cls(ErrorCode.VALIDATION, "The signup has invalid fields.", details=fields)

    @classmethod
    def taken(cls, field: str, message: str) -> TenancyError:
        details: dict[str, Any] = {field: [message]}
        return cls(ErrorCode.CONFLICT, message, details=details)
