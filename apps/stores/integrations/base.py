"""What every store adapter shares: one HTTP client (base URL from settings, timeouts, retries with
back-off on 429/5xx and network errors, the platform's rate-limit headers honoured) and the shapes
adapters return (pages of normalised records), so the sync engine is the same for every platform.

Adapters never write: they read the platform and return ``OrderInput``/``ProductInput``/… for the
stores services to write. Credentials reach them as a dict and never appear in errors or logs.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import requests

from apps.core.money import to_cents
from apps.stores.services.catalog import InventoryInput, ProductInput
from apps.stores.services.orders import CustomerInput, OrderInput

logger = logging.getLogger(__name__)

RESOURCES = ("products", "customers", "orders", "inventory")


class PlatformError(Exception):
    """The platform refused or failed; ``transient`` says whether trying again later may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


class AuthExpired(PlatformError):
    """The access token was refused (expired or revoked): refresh it, or reconnect the store."""


@dataclass(frozen=True)
class Page:
    """One page of normalised records and where the next page starts (``None``: this was the last)."""

    records: list[Any]
    next_cursor: dict[str, Any] | None
    total: int | None = None  # all records of the run, when the platform says


@dataclass(frozen=True)
class ShopInfo:
    name: str
    currency: str
    domain: str


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery as our endpoint parsed it, after its signature was verified."""

    topic: str  # normalised: orders/create, orders/updated, products/update, app/uninstalled, …
    delivery_id: str
    payload: Any


class Adapter(Protocol):
    """One platform's reads (and webhook registration) for one store."""

    def shop(self) -> ShopInfo: ...

    def fetch(self, resource: str, *, cursor: dict[str, Any], since: datetime | None) -> Page: ...

    def register_webhooks(self, *, address: str) -> list[str]: ...

    def records_of(self, delivery: Delivery) -> list[Any]:
        """What a delivery says, normalised like ``fetch``'s records (may fetch the resource)."""
        ...


Record = OrderInput | ProductInput | CustomerInput | InventoryInput


@dataclass
class HttpClient:
    """``requests`` with the retry policy every adapter uses.

    429: wait what the platform says (``Retry-After`` or the adapter's ``wait_for``), then retry.
    5xx and connection errors: exponential back-off with jitter. 401: ``AuthExpired`` at once.
    Other 4xx: ``PlatformError`` at once (a bad request does not get better by repeating it).
    ``sleep`` is injectable so tests run a 429 storm without waiting for it.
    """

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0
    max_attempts: int = 8
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    wait_for: Callable[[requests.Response], float | None] | None = None
    session: requests.Session = field(default_factory=requests.Session)
    retries: int = 0  # counted over the client's life, for tests and progress

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers={**self.headers, **(headers or {})},
                    auth=auth,
                    timeout=self.timeout_s,
                    stream=stream,
                )
            except requests.RequestException as exc:
                if attempt == self.max_attempts:
                    raise PlatformError(f"{method} {path}: {type(exc).__name__}", transient=True) from exc
                self._pause(attempt, None)
                continue
            status = response.status_code
            if status == 401:
                raise AuthExpired(f"{method} {path}: 401 (credentials refused)", status=401)
            if status == 429 or status >= 500:
                if attempt == self.max_attempts:
                    raise PlatformError(
                        f"{method} {path}: {status} after {attempt} tries", status=status, transient=True
                    )
                self._pause(attempt, self._wait(response))
                continue
            if status >= 400:
                raise PlatformError(f"{method} {path}: {status} {response.text[:300]}", status=status)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, response: requests.Response) -> float | None:
        if self.wait_for is not None:
            custom = self.wait_for(response)
            if custom is not None:
                return custom
        retry_after = response.headers.get("Retry-After") or response.headers.get("X-Retry-After")
        try:
            return float(retry_after) if retry_after else None
        except ValueError:
            return None

    def _pause(self, attempt: int, wait: float | None) -> None:
        self.retries += 1
        if wait is None:
            wait = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security
        logger.info("platform call retried", extra={"attempt": attempt, "wait_s": round(wait, 3)})
        self.sleep(min(wait, self.backoff_max_s * 4))


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off while a page is parsed or written. A page creates tens of
    thousands of dicts and lists, and every few hundred allocations trigger a collection that walks
    the live containers (measured: half the time of ``json.loads`` on a bulk file). Parsed JSON and
    the rows built from it hold no cycles, so reference counting frees them all the same; whatever
    else made cycles meanwhile is collected once the collector is back on."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:  # the fetching thread and the writing one pause it together: the last one out resumes
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def money(value: Any) -> Decimal:
    """A platform's decimal string (``"29.35"``, ``"361.9500"``) as Decimal cents."""
    return to_cents(Decimal(str(value or "0")))
