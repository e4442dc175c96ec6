from apps.core.errors import ErrorCode, KikiError


class BiddingError(KikiError):
    """LTV models, training runs and scoring (campaigns and bids come later)."""


class PlatformError(BiddingError):
    """An ad platform refused or failed a call.

    ``code`` is the platform's own error code (``"RATE_LIMIT_EXCEEDED"``, ``"40100"``, ``"http_500"``),
    ``status`` the HTTP status (``None`` for timeouts and connection errors). ``transient`` is true for
    timeouts, connection errors, 5xx, 429 and the platforms' rate-limit codes: the circuit breaker counts
    those as failures and the outbox retries them; anything else is a refusal that retrying won't fix.
    ``retry_after_s`` comes from ``Retry-After`` or the platform's own hint. Never carries credentials.
    """

    def __init__(
        self,
        *,
        platform: str,
        status: int | None,
        code: str,
        message: str,
        transient: bool,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(
            ErrorCode.UPSTREAM,
            f"{platform}: {message}",
            details={
                "platform": platform,
                "status": status,
                "platform_code": code,
                "transient": transient,
                "retry_after_s": retry_after_s,
            },
            http_status=502,
        )
        self.platform = platform
        self.status = status
        self.code = code
        self.message = message
        self.transient = transient
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"{self.platform} {self.status or '-'} {self.code}: {self.message}"


class CircuitOpen(BiddingError):
    """An ad platform account's circuit breaker refused a call without making it: the breaker is open
    (cooling down) or half-open with its one probe already in flight. ``retry_after_s`` is when to try
    again (the rest of the cool-down, or the probe's lease); the caller queues the change for then."""

    def __init__(self, *, account_id: int, platform: str, state: str, retry_after_s: float) -> None:
        retry_after_s = max(0.0, float(retry_after_s))
        super().__init__(
            "circuit_open",
            f"{platform} account {account_id}: the circuit breaker is {state}; retry in {retry_after_s:.1f} s.",
            details={
                "account_id": account_id,
                "platform": platform,
                "state": state,
                "retry_after_s": retry_after_s,
            },
            http_status=503,
        )
        self.account_id = account_id
        self.platform = platform
        self.state = state
        self.retry_after_s = retry_after_s


__all__ = ["BiddingError", "CircuitOpen", "ErrorCode", "PlatformError"]
