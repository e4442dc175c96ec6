"""LinkedIn Marketing API (Campaign Management + Reporting) adapter, over the versioned ``/rest/`` APIs
(``KIKI_LINKEDIN_API_BASE``; ``LinkedIn-Version`` and the Rest.li protocol version in ``versions``).

Follows the public shape (learn.microsoft.com/linkedin/marketing):
- Headers on every call: ``Authorization: Bearer <token>``, ``LinkedIn-Version: YYYYMM``,
  ``X-Restli-Protocol-Version: 2.0.0``.
- Pause / resume / budget / bid: a Rest.li partial update of the campaign, ``POST
  /rest/adAccounts/{account_id}/adCampaigns/{campaign_id}`` with ``X-RestLi-Method: PARTIAL_UPDATE`` and
  ``{"patch": {"$set": {…}}}``: ``status`` (``PAUSED`` / ``ACTIVE``), ``dailyBudget`` and ``unitCost``
  as ``{"amount": "12.34", "currencyCode": "USD"}`` (decimal strings, major unit). Answers 204. (Campaigns
  are nested under their ad account since the 2024 versions; the older ``/rest/adCampaigns/{id}`` took
  the same body.)
- Spend: ``GET /rest/adAnalytics?q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY&dateRange=(start:(year:…,
  month:…,day:…),end:(…))&accounts=List(urn%3Ali%3AsponsoredAccount%3A{id})&fields=…``. Rest.li 2.0
  query syntax: the structure characters stay as they are, the URNs inside are percent-encoded, so the
  query string is built here rather than by ``requests``. Elements carry ``pivotValues``
  (``urn:li:sponsoredCampaign:{id}``), ``dateRange``, ``costInLocalCurrency`` (decimal string),
  ``impressions``, ``clicks``, ``externalWebsiteConversions``, ``conversionValueInLocalCurrency``.
- Errors: ``{"status": 4xx, "code": "…", "message": "…"}`` (older: ``serviceErrorCode``). 429 is the
  throttle (daily application/member limits); 5xx is transient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from apps.bidding.errors import PlatformError
from apps.bidding.integrations.base import AccountAccess, SpendRow, report_row_key
from apps.bidding.integrations.http import PlatformHttp, retry_after_seconds
from apps.bidding.integrations.units import amount_to_micros, micros_to_amount
from apps.bidding.integrations.versions import LINKEDIN_API_VERSION, LINKEDIN_RESTLI_PROTOCOL_VERSION

PLATFORM = "linkedin"
_ID = re.compile(r"^\d+$")
CAMPAIGN_URN = "urn:li:sponsoredCampaign:"
ANALYTICS_FIELDS = (
    "pivotValues,dateRange,costInLocalCurrency,impressions,clicks,"
    "externalWebsiteConversions,conversionValueInLocalCurrency"
)


class LinkedInAdapter:
    platform = PLATFORM

    def __init__(self, access: AccountAccess, *, base_url: str, timeout_s: float) -> None:
        self.account_id = access.external_id.removeprefix("urn:li:sponsoredAccount:")
        if not _ID.match(self.account_id):
            raise ValueError(f"a LinkedIn ad account id is digits, got {access.external_id!r}")
        self.currency = access.currency
        headers = {
            "Authorization": f"Bearer {access.credential('access_token')}",
            "LinkedIn-Version": LINKEDIN_API_VERSION,
            "X-Restli-Protocol-Version": LINKEDIN_RESTLI_PROTOCOL_VERSION,
        }
        self.http = PlatformHttp(PLATFORM, base_url, headers, timeout_s, error_hook=_error_of)

    def _patch(self, campaign_external_id: str, changes: dict[str, Any]) -> None:
        if not _ID.match(campaign_external_id):
            raise ValueError(f"a LinkedIn campaign id is digits, got {campaign_external_id!r}")
        self.http.request(
            "POST",
            f"rest/adAccounts/{self.account_id}/adCampaigns/{campaign_external_id}",
            json_body={"patch": {"$set": changes}},
            headers={"X-RestLi-Method": "PARTIAL_UPDATE"},
        )

    def _money(self, micros: int) -> tuple[dict[str, str], int]:
        amount = micros_to_amount(micros, self.currency)
        return {"amount": str(amount), "currencyCode": self.currency}, amount_to_micros(amount)

    # --- campaign operations ------------------------------------------------------------------------
    def pause(self, campaign_external_id: str) -> None:
        self._patch(campaign_external_id, {"status": "PAUSED"})

    def resume(self, campaign_external_id: str) -> None:
        self._patch(campaign_external_id, {"status": "ACTIVE"})

    def set_budget(self, campaign_external_id: str, daily_micros: int) -> int:
        money, applied = self._money(daily_micros)
        self._patch(campaign_external_id, {"dailyBudget": money})
        return applied

    def set_bid(self, campaign_external_id: str, micros: int) -> int:
        money, applied = self._money(micros)
        if applied <= 0:
            raise ValueError("a bid must be at least one minor unit")
        self._patch(campaign_external_id, {"unitCost": money})
        return applied

    # --- reports ------------------------------------------------------------------------------------
    def fetch_spend(self, day_from: date, day_to: date) -> list[SpendRow]:
        def restli_date(d: date) -> str:
            return f"(year:{d.year},month:{d.month},day:{d.day})"

        account_urn = quote(f"urn:li:sponsoredAccount:{self.account_id}", safe="")
        query = "&".join(
            [
                "q=analytics",
                "pivot=CAMPAIGN",
                "timeGranularity=DAILY",
                f"dateRange=(start:{restli_date(day_from)},end:{restli_date(day_to)})",
                f"accounts=List({account_urn})",
                f"fields={ANALYTICS_FIELDS}",
            ]
        )
        body = self.http.request("GET", "rest/adAnalytics", query=query) or {}
        rows = []
        for element in body.get("elements") or []:
            urn = next(
                (str(p) for p in element.get("pivotValues") or [] if str(p).startswith(CAMPAIGN_URN)), ""
            )
            if not urn:
                continue
            campaign_id = urn.removeprefix(CAMPAIGN_URN)
            start = (element.get("dateRange") or {}).get("start") or {}
            day = date(int(start["year"]), int(start["month"]), int(start["day"]))
            rows.append(
                SpendRow(
                    campaign_external_id=campaign_id,
                    day=day,
                    spend_micros=amount_to_micros(element.get("costInLocalCurrency")),
                    impressions=int(element.get("impressions") or 0),
                    clicks=int(element.get("clicks") or 0),
                    conversions=Decimal(str(element.get("externalWebsiteConversions") or 0)),
                    conversion_value_micros=amount_to_micros(element.get("conversionValueInLocalCurrency")),
                    currency=self.currency,
                    report_row_key=report_row_key(PLATFORM, self.account_id, campaign_id, day),
                )
            )
        return rows


def _error_of(status: int, headers: Mapping[str, str], body: Any) -> PlatformError | None:
    if status < 400:
        return None
    if not isinstance(body, dict):
        return None
    code = str(body.get("code") or body.get("serviceErrorCode") or f"http_{status}")
    message = str(body.get("message") or f"HTTP {status}")
    transient = status == 429 or status >= 500
    return PlatformError(
        platform=PLATFORM,
        status=status,
        code=code,
        message=message[:500],
        transient=transient,
        retry_after_s=retry_after_seconds(headers.get("Retry-After")) if transient else None,
    )
