from apps.core.errors import ErrorCode, KikiError


class GovernanceError(KikiError):
    """Users, roles, API keys, secrets, reports."""


__all__ = ["ErrorCode", "GovernanceError"]
