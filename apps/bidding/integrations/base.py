"""What every ad platform adapter shares: the interface the push path and spend ingestion call, the
shape of a spend report row, and the account an adapter acts for.

Adapters never write to the database and never retry: one method is one logical operation on the
platform (it may take a few HTTP calls, e.g. look up a budget's resource name first), and a failure is
raised as ``apps.bidding.errors.PlatformError`` with ``transient`` set for what trying again later may
fix. Retrying is the outbox's job and the circuit breaker counts each failure, so a retry loop in here
would hide failures from both.

Money crosses this interface as integer micros in the account's currency; each adapter converts to its
platform's unit (Google: micros; Meta: the currency's minor unit; TikTok and LinkedIn: decimal amounts)
and back. ``set_bid``/``set_budget`` return the micros the platform now holds (a platform that counts
in cents cannot hold a fraction of a cent: the value is rounded down, never up, so a cap stays a cap).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class AccountAccess:
    """One advertiser account on one platform, as an adapter needs it. ``credentials`` is the decrypted
    JSON of ``AdPlatformAccount.credentials``; it is kept out of ``repr`` so it never reaches a log."""

    platform: str
    external_id: str  # Google customer id, Meta ad account id, TikTok advertiser id, LinkedIn account id
    currency: str
    credentials: Mapping[str, str] = field(repr=False)

    def credential(self, name: str) -> str:
        value = self.credentials.get(name)
        if not value:
            from apps.bidding.errors import PlatformError

            raise PlatformError(
                platform=self.platform,
                status=None,
                code="credentials_missing",
                message=f"the account's credentials have no {name!r}; reconnect the account",
                transient=False,
            )
        return str(value)


@dataclass(frozen=True)
class SpendRow:
    """One campaign-day of a platform's report, normalised. ``report_row_key`` names the row the same
    way every time it is fetched (platform, account, campaign, day), so re-fetching a day updates it."""

    campaign_external_id: str
    day: date
    spend_micros: int
    impressions: int
    clicks: int
    conversions: Decimal
    conversion_value_micros: int
    currency: str
    report_row_key: str


def report_row_key(platform: str, account_external_id: str, campaign_external_id: str, day: date) -> str:
    return f"{platform}:{account_external_id}:{campaign_external_id}:{day.isoformat()}"


@runtime_checkable
class AdPlatformAdapter(Protocol):
    """One platform's campaign operations and spend report, for one advertiser account."""

    platform: str

    def pause(self, campaign_external_id: str) -> None: ...

    def resume(self, campaign_external_id: str) -> None: ...

    def set_bid(self, campaign_external_id: str, micros: int) -> int:
        """Set the campaign's bid (cap); returns the micros the platform now holds."""
        ...

    def set_budget(self, campaign_external_id: str, daily_micros: int) -> int:
        """Set the campaign's daily budget; returns the micros the platform now holds."""
        ...

    def fetch_spend(self, day_from: date, day_to: date) -> list[SpendRow]:
        """Spend and outcomes per campaign and day, both days included (the account's report days)."""
        ...
