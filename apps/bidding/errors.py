from apps.core.errors import ErrorCode, KikiError


class BiddingError(KikiError):
    """LTV models, training runs and scoring (campaigns and bids come later)."""


__all__ = ["BiddingError", "ErrorCode"]
