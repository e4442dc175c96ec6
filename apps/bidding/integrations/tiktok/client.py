"""TikTok API for Business (Marketing API) adapter (``KIKI_TIKTOK_API_BASE``, version in
``versions.TIKTOK_API_VERSION``).

Follows the public shape (business-api.tiktok.com/portal/docs, v1.3):
- Auth: the ``Access-Token`` header (no ``Bearer`` prefix).
- Every answer is the envelope ``{"code": 0, "message": "OK", "request_id", "data"}``; errors come in
  it with HTTP 200 and a non-zero ``code``. 40100 is the rate limit ("requests too frequent"), 50000 and
  above are TikTok-side errors (transient); 40001–40002 (permission, parameters), 40104–40105 (token)
  and the other 4xxxx codes are refusals. The gateway may also answer a bare HTTP 429 or 5xx.
- Pause / resume: ``POST /open_api/v1.3/campaign/status/update/`` with ``{"advertiser_id",
  "campaign_ids": [id], "operation_status": "DISABLE" | "ENABLE"}``.
- Budget: ``POST /open_api/v1.3/campaign/update/`` with ``{"advertiser_id", "campaign_id", "budget"}``;
  the budget is a decimal number in the account currency's major unit (daily budget mode).
- Bid: bids belong to ad groups (``bid_price``, major unit): ``GET /open_api/v1.3/adgroup/get/`` with
  ``filtering={"campaign_ids": [id]}`` then ``POST /open_api/v1.3/adgroup/update/`` per ad group.
- Spend: ``GET /open_api/v1.3/report/integrated/get/`` with ``report_type=BASIC``,
  ``data_level=AUCTION_CAMPAIGN``, ``dimensions=["campaign_id","stat_time_day"]``, ``metrics=["spend",
  "impressions","clicks","conversion","total_purchase_value"]``, ``start_date``/``end_date`` and
  ``page``/``page_size``; rows are ``{"dimensions": {…, "stat_time_day": "YYYY-MM-DD 00:00:00"},
  "metrics": {…}}`` with numbers as strings, in the advertiser's currency (the account's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from apps.bidding.errors import PlatformError
from apps.bidding.integrations.base import AccountAccess, SpendRow, report_row_key
from apps.bidding.integrations.http import PlatformHttp, retry_after_seconds
from apps.bidding.integrations.units import amount_to_micros, micros_to_amount
from apps.bidding.integrations.versions import TIKTOK_API_VERSION

PLATFORM = "tiktok"
_ID = re.compile(r"^\d+$")
RATE_LIMIT_CODES = frozenset({40100})
PAGE_SIZE = 1000


class TikTokAdapter:
    platform = PLATFORM

    def __init__(self, access: AccountAccess, *, base_url: str, timeout_s: float) -> None:
        if not _ID.match(access.external_id):
            raise ValueError(f"a TikTok advertiser id is digits, got {access.external_id!r}")
        self.advertiser_id = access.external_id
        self.currency = access.currency
        headers = {"Access-Token": access.credential("access_token")}
        self.http = PlatformHttp(PLATFORM, base_url, headers, timeout_s, error_hook=_error_of)
        self.prefix = f"open_api/{TIKTOK_API_VERSION}"

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        body = self.http.request(method, f"{self.prefix}/{endpoint}", **kwargs)
        if not isinstance(body, dict) or "code" not in body:
            raise PlatformError(
                platform=PLATFORM,
                status=200,
                code="unexpected_answer",
                message=f"{endpoint}: not TikTok's envelope",
                transient=True,  # fmt: skip
            )
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _id(value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"a TikTok id is digits, got {value!r}")
        return value

    # --- campaign operations ------------------------------------------------------------------------
    def _status(self, campaign_external_id: str, operation: str) -> None:
        self._call(
            "POST",
            "campaign/status/update/",
            json_body={
                "advertiser_id": self.advertiser_id,
                "campaign_ids": [self._id(campaign_external_id)],
                "operation_status": operation,
            },
        )

    def pause(self, campaign_external_id: str) -> None:
        self._status(campaign_external_id, "DISABLE")

    def resume(self, campaign_external_id: str) -> None:
        self._status(campaign_external_id, "ENABLE")

    def set_budget(self, campaign_external_id: str, daily_micros: int) -> int:
        amount = micros_to_amount(daily_micros, self.currency)
        self._call(
            "POST",
            "campaign/update/",
            json_body={
                "advertiser_id": self.advertiser_id,
                "campaign_id": self._id(campaign_external_id),
                "budget": amount,
            },  # fmt: skip
        )
        return amount_to_micros(amount)

    def set_bid(self, campaign_external_id: str, micros: int) -> int:
        amount = micros_to_amount(micros, self.currency)
        if amount <= 0:
            raise ValueError("a bid must be at least one minor unit")
        ad_groups = self._ad_groups(self._id(campaign_external_id))
        if not ad_groups:
            raise PlatformError(
                platform=PLATFORM,
                status=None,
                code="no_ad_groups",
                message=f"campaign {campaign_external_id} has no ad groups to carry a bid",
                transient=False,
            )
        for group in ad_groups:
            if Decimal(str(group.get("bid_price") or -1)) != amount:
                self._call(
                    "POST",
                    "adgroup/update/",
                    json_body={
                        "advertiser_id": self.advertiser_id,
                        "adgroup_id": str(group["adgroup_id"]),
                        "bid_price": amount,
                    },  # fmt: skip
                )
        return amount_to_micros(amount)

    def _ad_groups(self, campaign_id: str) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self._call(
                "GET",
                "adgroup/get/",
                params={
                    "advertiser_id": self.advertiser_id,
                    "filtering": json.dumps({"campaign_ids": [campaign_id]}),
                    "fields": json.dumps(["adgroup_id", "campaign_id", "bid_price"]),
                    "page": page,
                    "page_size": PAGE_SIZE,
                },
            )
            groups.extend(data.get("list") or [])
            if page >= int((data.get("page_info") or {}).get("total_page") or 1):
                return groups
            page += 1

    # --- reports ------------------------------------------------------------------------------------
    def fetch_spend(self, day_from: date, day_to: date) -> list[SpendRow]:
        rows: list[SpendRow] = []
        page = 1
        while True:
            data = self._call(
                "GET",
                "report/integrated/get/",
                params={
                    "advertiser_id": self.advertiser_id,
                    "report_type": "BASIC",
                    "data_level": "AUCTION_CAMPAIGN",
                    "dimensions": json.dumps(["campaign_id", "stat_time_day"]),
                    "metrics": json.dumps(
                        ["spend", "impressions", "clicks", "conversion", "total_purchase_value"]
                    ),  # fmt: skip
                    "start_date": day_from.isoformat(),
                    "end_date": day_to.isoformat(),
                    "page": page,
                    "page_size": PAGE_SIZE,
                },
            )
            for item in data.get("list") or []:
                dims, metrics = item.get("dimensions") or {}, item.get("metrics") or {}
                campaign_id = str(dims["campaign_id"])
                day = date.fromisoformat(str(dims["stat_time_day"])[:10])
                rows.append(
                    SpendRow(
                        campaign_external_id=campaign_id,
                        day=day,
                        spend_micros=amount_to_micros(metrics.get("spend")),
                        impressions=int(metrics.get("impressions") or 0),
                        clicks=int(metrics.get("clicks") or 0),
                        conversions=Decimal(str(metrics.get("conversion") or 0)),
                        conversion_value_micros=amount_to_micros(metrics.get("total_purchase_value")),
                        currency=self.currency,
                        report_row_key=report_row_key(PLATFORM, self.advertiser_id, campaign_id, day),
                    )
                )
            if page >= int((data.get("page_info") or {}).get("total_page") or 1):
                return rows
            page += 1


def _error_of(status: int, headers: Mapping[str, str], body: Any) -> PlatformError | None:
    envelope = body if isinstance(body, dict) and "code" in body else None
    if envelope is None:
        return None  # a gateway answer without the envelope: the generic mapping decides (429, 5xx, 4xx)
    code = int(envelope.get("code") or 0)
    if code == 0 and status < 400:
        return None
    message = str(envelope.get("message") or f"code {code}")
    transient = code in RATE_LIMIT_CODES or code >= 50000 or status == 429 or status >= 500
    return PlatformError(
        platform=PLATFORM,
        status=status,
        code=str(code),
        message=message[:500],
        transient=transient,
        retry_after_s=retry_after_seconds(headers.get("Retry-After")) if transient else None,
    )
