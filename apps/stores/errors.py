from apps.core.errors import ErrorCode, KikiError


class StoresError(KikiError):
    """Stores, customers and orders."""


__all__ = ["ErrorCode", "StoresError"]
