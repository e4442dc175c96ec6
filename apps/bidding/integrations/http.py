"""The one HTTP client of the ad platform adapters: base URL from settings, a timeout on every call,
and every failure turned into ``PlatformError`` (no retries here: see ``base``).

Transient (worth another try later, counted by the circuit breaker): timeouts, connection errors, 5xx,
429 and whatever the platform's own hook says is a rate limit (Meta and TikTok answer rate limits in
their error envelopes, TikTok even with HTTP 200). Everything else in 4xx is a refusal, carried with the
platform's own code and message. Credentials travel in headers only, and nothing here logs a header,
a body or a query string.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from apps.bidding.errors import PlatformError

logger = logging.getLogger(__name__)

# (status, headers, parsed body) → the platform's error, or None when the answer is a success (or when
# the generic mapping below should decide).
ErrorHook = Callable[[int, Mapping[str, str], Any], PlatformError | None]


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass
class PlatformHttp:
    platform: str
    base_url: str
    headers: dict[str, str] = field(repr=False)
    timeout_s: float
    error_hook: ErrorHook | None = None
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        query: str | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the parsed JSON body (``None`` when there is none).

        ``query`` is a pre-encoded query string, for protocols whose parameters must not be encoded the
        usual way (LinkedIn's Rest.li ``List(…)`` and ``(start:(…))``)."""
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        if query:
            url = f"{url}?{query}"
        sent_headers = {**self.headers, **(headers or {})}
        payload: Any = data
        if json_body is not None:
            payload = dumps_exact(json_body)
            sent_headers.setdefault("Content-Type", "application/json")
        started = time.perf_counter()
        try:
            response = self.session.request(
                method, url, params=params, data=payload, headers=sent_headers, timeout=self.timeout_s
            )
        except requests.Timeout as exc:
            self._log(method, path, None, started)
            raise PlatformError(
                platform=self.platform,
                status=None,
                code="timeout",
                message=f"{method} {path}: no answer within {self.timeout_s:g}s",
                transient=True,
            ) from exc
        except requests.RequestException as exc:
            self._log(method, path, None, started)
            raise PlatformError(
                platform=self.platform,
                status=None,
                code="connection_error",
                message=f"{method} {path}: {type(exc).__name__}",
                transient=True,
            ) from exc
        self._log(method, path, response.status_code, started)
        body = _json_or_none(response)
        if self.error_hook is not None:
            error = self.error_hook(response.status_code, response.headers, body)
            if error is not None:
                raise error
        if response.status_code >= 400:
            raise self.generic_error(response.status_code, response.headers, body)
        return body

    def generic_error(self, status: int, headers: Mapping[str, str], body: Any) -> PlatformError:
        message = _message_of(body) or f"HTTP {status}"
        if status == 429:
            return PlatformError(
                platform=self.platform,
                status=status,
                code="rate_limited",
                message=message,
                transient=True,
                retry_after_s=retry_after_seconds(headers.get("Retry-After")),
            )
        return PlatformError(
            platform=self.platform,
            status=status,
            code=f"http_{status}",
            message=message,
            transient=status >= 500,
            retry_after_s=retry_after_seconds(headers.get("Retry-After")) if status >= 500 else None,
        )

    def _log(self, method: str, path: str, status: int | None, started: float) -> None:
        logger.info(
            "ad platform call",
            extra={
                "platform": self.platform,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )


def dumps_exact(body: Any) -> str:
    """JSON with ``Decimal`` amounts written as exact JSON numbers (``12.30`` stays ``12.30``; a float
    would do for most values, but money never passes through one)."""
    numbers: dict[str, str] = {}

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            token = f"__kiki_decimal_{len(numbers)}__"
            numbers[token] = format(value, "f")
            return token
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    text = json.dumps(body, default=default, separators=(",", ":"))
    for token, number in numbers.items():
        text = text.replace(f'"{token}"', number)
    return text


def _json_or_none(response: requests.Response) -> Any:
    """The body as JSON, its non-integer numbers as ``Decimal`` (money never passes through a float)."""
    if not response.content:
        return None
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None


def _message_of(body: Any) -> str:
    """A message from the usual error shapes (``{"error": {"message"}}``, ``{"message"}``)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if body.get("message"):
            return str(body["message"])[:500]
    return ""
