from apps.core.errors import ErrorCode, KikiError


class GovernanceError(KikiError):
    """Users, roles, API keys, secrets, reports."""


def invalid(field: str, message: str) -> GovernanceError:
    """A 400 naming one field: ``{"field": [message]}``."""
    return GovernanceError(ErrorCode.VALIDATION, message, details={field: [message]})


__all__ = ["ErrorCode", "GovernanceError", "invalid"]
