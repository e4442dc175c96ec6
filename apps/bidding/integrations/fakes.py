"""What the four ad platform fakes share: the loopback server (``apps.core.fakes``), the advertiser
accounts they know and their tokens, the spend they report, and the control API tests use.

Control API (every fake)::

    fake = FakeMeta().start()                 # or ``with FakeMeta() as fake:``
    fake.add_account("1234", token="t", currency="USD")
    fake.add_campaign("1234", "c1", …)        # platform-specific fields, in the platform's own units
    fake.add_spend("1234", "c1", day, spend_micros=…, impressions=…, clicks=…, conversions=…, …)
    fake.fail_next("rate_limit", times=2, retry_after_s=7)   # the platform's own rate-limit answer
    fake.fail_next("server_error")            # a 5xx in the platform's error shape
    fake.fail_next("client_error")            # a 4xx refusal in the platform's error shape
    fake.fail_next("timeout", delay_s=1.0)    # answer only after delay_s (past the client's timeout)
    fake.fail_next("drop")                    # close the connection without an answer
    fake.calls, fake.calls_to("/campaigns:mutate"), fake.mutations   # what reached the platform

``fail_next`` applies to the next matching requests (``path_contains``), whatever they are. A request
that is answered with an injected failure changes nothing on the platform.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from apps.core.fakes import Failure, FakeServer, Reply, Request

FAILURE_KINDS = ("rate_limit", "server_error", "client_error", "timeout", "drop")


@dataclass
class FakeSpend:
    spend_micros: int
    impressions: int = 0
    clicks: int = 0
    conversions: Decimal = Decimal(0)
    conversion_value_micros: int = 0


@dataclass
class FakeAccount:
    external_id: str
    token: str
    currency: str = "USD"


class FakeAdPlatform(ABC):
    """Base of the four fakes: each subclass answers requests (``__call__``) and shapes its errors
    (``error_reply``) as its platform does; the base holds the state and the error injection."""

    platform = ""

    def __init__(self, *, port: int = 0) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, FakeAccount] = {}
        # (account, campaign, day) → what the report says; set again to revise a day.
        self.spend: dict[tuple[str, str, date], FakeSpend] = {}
        self.server = FakeServer(self, port=port)

    # --- life -----------------------------------------------------------------------------------------
    def start(self) -> FakeAdPlatform:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> FakeAdPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    # --- set-up ---------------------------------------------------------------------------------------
    def add_account(self, external_id: str, *, token: str, currency: str = "USD") -> FakeAccount:
        account = FakeAccount(external_id, token, currency)
        self.accounts[external_id] = account
        return account

    def add_spend(
        self,
        account_id: str,
        campaign_id: str,
        day: date,
        *,
        spend_micros: int,
        impressions: int = 0,
        clicks: int = 0,
        conversions: Decimal | int = 0,
        conversion_value_micros: int = 0,
    ) -> None:
        with self.lock:
            self.spend[(account_id, campaign_id, day)] = FakeSpend(
                spend_micros, impressions, clicks, Decimal(conversions), conversion_value_micros
            )

    def spend_rows(self, account_id: str, day_from: date, day_to: date) -> list[tuple[str, date, FakeSpend]]:
        with self.lock:
            rows = [
                (campaign, day, row)
                for (account, campaign, day), row in self.spend.items()
                if account == account_id and day_from <= day <= day_to
            ]
        return sorted(rows, key=lambda r: (r[1], r[0]))

    # --- what reached it ------------------------------------------------------------------------------
    @property
    def calls(self) -> list[Request]:
        with self.server._lock:
            return list(self.server.log)

    def calls_to(self, path_contains: str) -> list[Request]:
        return self.server.requests_to(path_contains)

    @property
    def mutations(self) -> list[Request]:
        """Every request that asked for a change (the reads of reports and lookups left out)."""
        return [
            r for r in self.calls if r.method in ("POST", "PATCH", "PUT", "DELETE") and self.is_mutation(r)
        ]

    def is_mutation(self, request: Request) -> bool:
        return True

    def reset_calls(self) -> None:
        with self.server._lock:
            self.server.log.clear()

    # --- failures -------------------------------------------------------------------------------------
    def fail_next(
        self,
        kind: str,
        *,
        times: int = 1,
        path_contains: str = "",
        retry_after_s: float | None = None,
        status: int | None = None,
        delay_s: float = 1.0,
    ) -> None:
        """Answer the next ``times`` matching requests with a failure of this ``kind`` (``FAILURE_KINDS``),
        shaped as this platform shapes it."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; one of {FAILURE_KINDS}")
        if kind == "drop":
            self.server.fail(Failure(status=0, times=times, path_contains=path_contains, drop=True))
            return
        if kind == "timeout":
            reply = self.error_reply("server_error", status=504, retry_after_s=None)
            self.server.fail(
                Failure(
                    status=reply.status,
                    times=times,
                    headers=reply.headers,
                    body=reply.body,
                    path_contains=path_contains,
                    delay_s=delay_s,
                )
            )
            return
        reply = self.error_reply(kind, status=status, retry_after_s=retry_after_s)
        self.server.fail(
            Failure(
                status=reply.status,
                times=times,
                headers=reply.headers,
                body=reply.body,
                path_contains=path_contains,
            )
        )

    @abstractmethod
    def error_reply(self, kind: str, *, status: int | None, retry_after_s: float | None) -> Reply:
        """The platform's answer for ``rate_limit``, ``server_error`` and ``client_error``."""

    # --- helpers for subclasses -----------------------------------------------------------------------
    def account_for_token(self, token: str) -> FakeAccount | None:
        return next((a for a in self.accounts.values() if token and a.token == token), None)

    @abstractmethod
    def __call__(self, request: Request) -> Reply:
        """Answer one request as the platform's API does."""


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header[7:] if header.lower().startswith("bearer ") else ""


def json_body(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        return None
