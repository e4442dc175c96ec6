"""Google Ads API adapter, over its REST interface (``KIKI_GOOGLE_ADS_API_BASE``, version in
``versions.GOOGLE_ADS_API_VERSION``).

Follows the public REST shape (developers.google.com/google-ads/api/rest):
- Auth headers: ``Authorization: Bearer <OAuth access token>``, ``developer-token``, and
  ``login-customer-id`` when the account is reached through a manager account.
- Pause / resume: ``POST /{v}/customers/{customer_id}/campaigns:mutate`` with
  ``{"operations": [{"update": {"resourceName": "customers/{cid}/campaigns/{id}", "status": "PAUSED"},
  "updateMask": "status"}]}`` (``ENABLED`` to resume). Answers ``{"results": [{"resourceName"}]}``.
- Bid: the campaign's Maximize Conversions target CPA, ``maximizeConversions.targetCpaMicros`` through
  the same mutate (a campaign-level bid in micros; manual CPC bids live on ad groups).
- Budget: budgets are their own resource. The campaign's budget is looked up with GAQL
  (``SELECT campaign.campaign_budget FROM campaign WHERE campaign.id = …``) and updated with
  ``POST /{v}/customers/{cid}/campaignBudgets:mutate``, ``amountMicros`` (a multiple of the currency's
  minimum unit: rounded down to whole cents here).
- Spend: ``POST /{v}/customers/{cid}/googleAds:searchStream`` with a GAQL query over ``campaign`` with
  ``segments.date BETWEEN …``; the answer is a JSON array of batches ``{"results": [GoogleAdsRow…]}``.
  int64 values arrive as strings, doubles as numbers, and fields at their default (0) are left out.
- Errors: ``{"error": {"code", "message", "status", "details": [{"@type": "…GoogleAdsFailure",
  "errors": [{"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"}, "message", "details":
  {"quotaErrorDetails": {"retryDelay": "30s"}}}]}]}}``. 429 / ``RESOURCE_EXHAUSTED`` is a rate limit
  (retry after ``retryDelay``), 5xx and ``UNAVAILABLE``/``INTERNAL`` are transient.

Money: micros on both sides; ``metrics.conversionsValue`` is a double in the account currency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from apps.bidding.errors import PlatformError
from apps.bidding.integrations.base import AccountAccess, SpendRow, report_row_key
from apps.bidding.integrations.http import PlatformHttp, retry_after_seconds
from apps.bidding.integrations.units import amount_to_micros, floor_to_minor_unit
from apps.bidding.integrations.versions import GOOGLE_ADS_API_VERSION

PLATFORM = "google_ads"
_DIGITS = re.compile(r"^\d+$")
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")
_TRANSIENT_STATUSES = {"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED", "RESOURCE_EXHAUSTED"}


class GoogleAdsAdapter:
    platform = PLATFORM

    def __init__(self, access: AccountAccess, *, base_url: str, timeout_s: float) -> None:
        self.customer_id = access.external_id.replace("-", "")
        if not _DIGITS.match(self.customer_id):
            raise ValueError(f"a Google Ads customer id is digits, got {access.external_id!r}")
        self.currency = access.currency
        headers = {
            "Authorization": f"Bearer {access.credential('access_token')}",
            "developer-token": access.credential("developer_token"),
        }
        login = access.credentials.get("login_customer_id")
        if login:
            headers["login-customer-id"] = str(login).replace("-", "")
        self.http = PlatformHttp(PLATFORM, base_url, headers, timeout_s, error_hook=_error_of)
        self.prefix = f"{GOOGLE_ADS_API_VERSION}/customers/{self.customer_id}"

    # --- campaign operations ------------------------------------------------------------------------
    def pause(self, campaign_external_id: str) -> None:
        self._mutate_campaign(campaign_external_id, {"status": "PAUSED"}, "status")

    def resume(self, campaign_external_id: str) -> None:
        self._mutate_campaign(campaign_external_id, {"status": "ENABLED"}, "status")

    def set_bid(self, campaign_external_id: str, micros: int) -> int:
        if micros <= 0:
            raise ValueError("a target CPA must be positive")
        self._mutate_campaign(
            campaign_external_id,
            {"maximizeConversions": {"targetCpaMicros": str(micros)}},
            "maximizeConversions.targetCpaMicros",
        )
        return micros

    def set_budget(self, campaign_external_id: str, daily_micros: int) -> int:
        amount = floor_to_minor_unit(daily_micros, self.currency)
        budget = self._budget_of(campaign_external_id)
        self.http.request(
            "POST",
            f"{self.prefix}/campaignBudgets:mutate",
            json_body={
                "operations": [
                    {
                        "update": {"resourceName": budget, "amountMicros": str(amount)},
                        "updateMask": "amountMicros",
                    }
                ]
            },
        )
        return amount

    # --- reports ------------------------------------------------------------------------------------
    def fetch_spend(self, day_from: date, day_to: date) -> list[SpendRow]:
        fields = (
            "campaign.id, segments.date, customer.currency_code, metrics.cost_micros, metrics.impressions, "
            "metrics.clicks, metrics.conversions, metrics.conversions_value"
        )
        span = f"'{day_from.isoformat()}' AND '{day_to.isoformat()}'"
        query = f"SELECT {fields} FROM campaign WHERE segments.date BETWEEN {span}"  # noqa: S608 - GAQL of dates
        rows: list[SpendRow] = []
        for row in self._search(query):
            campaign_id = str(row["campaign"]["id"])
            day = date.fromisoformat(row["segments"]["date"])
            metrics = row.get("metrics") or {}
            currency = (row.get("customer") or {}).get("currencyCode") or self.currency
            rows.append(
                SpendRow(
                    campaign_external_id=campaign_id,
                    day=day,
                    spend_micros=int(metrics.get("costMicros") or 0),
                    impressions=int(metrics.get("impressions") or 0),
                    clicks=int(metrics.get("clicks") or 0),
                    conversions=Decimal(str(metrics.get("conversions") or 0)),
                    conversion_value_micros=amount_to_micros(metrics.get("conversionsValue") or 0),
                    currency=currency,
                    report_row_key=report_row_key(PLATFORM, self.customer_id, campaign_id, day),
                )
            )
        return rows

    # --- helpers ------------------------------------------------------------------------------------
    def _campaign_resource(self, campaign_external_id: str) -> str:
        if not _DIGITS.match(campaign_external_id):
            raise ValueError(f"a Google Ads campaign id is digits, got {campaign_external_id!r}")
        return f"customers/{self.customer_id}/campaigns/{campaign_external_id}"

    def _mutate_campaign(self, campaign_external_id: str, fields: dict[str, Any], mask: str) -> None:
        self.http.request(
            "POST",
            f"{self.prefix}/campaigns:mutate",
            json_body={
                "operations": [
                    {
                        "update": {"resourceName": self._campaign_resource(campaign_external_id), **fields},
                        "updateMask": mask,
                    }
                ]
            },
        )

    def _budget_of(self, campaign_external_id: str) -> str:
        self._campaign_resource(campaign_external_id)  # validates the id before it enters GAQL
        rows = self._search(
            f"SELECT campaign.id, campaign.campaign_budget FROM campaign WHERE campaign.id = {campaign_external_id}"  # noqa: S608 - digits only
        )
        budget = rows[0].get("campaign", {}).get("campaignBudget") if rows else None
        if not budget:
            raise PlatformError(
                platform=PLATFORM,
                status=None,
                code="CAMPAIGN_BUDGET_NOT_FOUND",
                message=f"campaign {campaign_external_id} has no budget on customer {self.customer_id}",
                transient=False,
            )
        return str(budget)

    def _search(self, query: str) -> list[dict[str, Any]]:
        batches = self.http.request(
            "POST", f"{self.prefix}/googleAds:searchStream", json_body={"query": query}
        )
        rows: list[dict[str, Any]] = []
        for batch in batches or []:
            rows.extend(batch.get("results") or [])
        return rows


def _error_of(status: int, headers: Mapping[str, str], body: Any) -> PlatformError | None:
    if status < 400:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None  # not Google's shape (a proxy's page): the generic mapping decides
    grpc_status = str(error.get("status") or "")
    message = str(error.get("message") or f"HTTP {status}")
    code = grpc_status or f"http_{status}"
    retry_after = retry_after_seconds(headers.get("Retry-After"))
    for detail in error.get("details") or []:
        for failure in detail.get("errors") or [] if isinstance(detail, dict) else []:
            error_code = failure.get("errorCode") or {}
            if error_code:
                kind, value = next(iter(error_code.items()))
                code = f"{kind}.{value}"
            message = str(failure.get("message") or message)
            delay = (((failure.get("details") or {}).get("quotaErrorDetails") or {}).get("retryDelay")) or ""
            match = _DELAY.match(str(delay))
            if match:
                retry_after = float(match.group(1))
            break
    transient = status == 429 or status >= 500 or grpc_status in _TRANSIENT_STATUSES
    return PlatformError(
        platform=PLATFORM,
        status=status,
        code=code,
        message=message[:500],
        transient=transient,
        retry_after_s=retry_after if transient else None,
    )
