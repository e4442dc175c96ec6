"""A loopback TikTok API for Business (v1.3), written from the public contract (see ``client.py``'s
docstring): the ``{"code", "message", "request_id", "data"}`` envelope on every answer (errors with
HTTP 200), the ``Access-Token`` header, ``campaign/status/update/``, ``campaign/update/`` (budget),
``adgroup/get/`` and ``adgroup/update/`` (``bid_price``), and ``report/integrated/get/`` (BASIC,
AUCTION_CAMPAIGN, by ``campaign_id`` and ``stat_time_day``) with ``page``/``page_size``.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.bidding.integrations.fakes import FakeAdPlatform, json_body
from apps.bidding.integrations.units import minor_unit_exponent
from apps.bidding.integrations.versions import TIKTOK_API_VERSION
from apps.core.fakes import Reply, Request

PREFIX = f"/open_api/{TIKTOK_API_VERSION}/"


@dataclass
class TikTokAdGroup:
    adgroup_id: str
    bid_price: Decimal | None = None  # major unit


@dataclass
class TikTokCampaign:
    campaign_id: str
    advertiser_id: str
    operation_status: str = "ENABLE"  # ENABLE | DISABLE
    budget: Decimal = Decimal("50.00")  # daily, major unit
    budget_mode: str = "BUDGET_MODE_DAY"
    ad_groups: list[TikTokAdGroup] = field(default_factory=list)


def _envelope(code: int = 0, message: str = "OK", data: Any = None) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": secrets.token_hex(12), "data": data if data is not None else {}}  # fmt: skip


def _amount(micros: int, currency: str) -> str:
    return str((Decimal(micros) / 1_000_000).quantize(Decimal(1).scaleb(-minor_unit_exponent(currency))))


class FakeTikTok(FakeAdPlatform):
    platform = "tiktok"

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.campaigns: dict[str, TikTokCampaign] = {}

    def add_campaign(
        self,
        advertiser_id: str,
        campaign_id: str,
        *,
        operation_status: str = "ENABLE",
        budget: Decimal | str = "50.00",
        ad_group_ids: tuple[str, ...] = (),
        bid_price: Decimal | str | None = None,
    ) -> TikTokCampaign:
        campaign = TikTokCampaign(campaign_id, advertiser_id, operation_status, Decimal(budget))
        campaign.ad_groups = [
            TikTokAdGroup(g, Decimal(bid_price) if bid_price is not None else None) for g in ad_group_ids
        ]
        self.campaigns[campaign_id] = campaign
        return campaign

    def is_mutation(self, request: Request) -> bool:
        return request.path.endswith(("/update/", "/status/update/"))

    def error_reply(self, kind: str, *, status: int | None, retry_after_s: float | None) -> Reply:
        headers = {"Retry-After": str(int(retry_after_s))} if retry_after_s is not None else {}
        if kind == "rate_limit":
            # TikTok answers its rate limit inside the envelope, with HTTP 200 (status overrides: a bare 429).
            if status == 429:
                return Reply(429, b"Too Many Requests", {"Content-Type": "text/plain", **headers})
            return Reply(200, _envelope(40100, "Too many requests. Please retry in some time."), headers)
        if kind == "server_error":
            if status:
                return Reply(status, b"<html><body>Bad Gateway</body></html>", {"Content-Type": "text/html"})
            return Reply(200, _envelope(50000, "System error, please try again later."))
        if status:
            return Reply(status, _envelope(40002, f"HTTP {status}"))
        return Reply(200, _envelope(40002, "advertiser_id: Field is required or campaign not found."))

    # --- the API --------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        if not request.path.startswith(PREFIX):
            return Reply(404, _envelope(40404, "Not Found"))
        account = self.account_for_token(request.headers.get("access-token", ""))
        if account is None:
            return Reply(200, _envelope(40105, "Access token is incorrect or has been revoked."))
        endpoint = request.path[len(PREFIX) :]
        params = {k: v[0] for k, v in request.query.items()}
        body = json_body(request) if request.method == "POST" else params
        if not isinstance(body, dict):
            return Reply(200, _envelope(40002, "Request body must be JSON."))
        if str(body.get("advertiser_id") or "") != account.external_id:
            return Reply(200, _envelope(40001, "No permission to operate advertiser."))
        routes = {
            ("POST", "campaign/status/update/"): self._status,
            ("POST", "campaign/update/"): self._budget,
            ("GET", "adgroup/get/"): self._ad_groups,
            ("POST", "adgroup/update/"): self._bid,
            ("GET", "report/integrated/get/"): self._report,
        }
        handler = routes.get((request.method, endpoint))
        if handler is None:
            return Reply(404, _envelope(40404, "Not Found"))
        with self.lock:
            return handler(account.external_id, body)

    def _campaign(self, advertiser_id: str, campaign_id: Any) -> TikTokCampaign | None:
        campaign = self.campaigns.get(str(campaign_id))
        return campaign if campaign is not None and campaign.advertiser_id == advertiser_id else None

    @staticmethod
    def _number(value: Any) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None

    def _status(self, advertiser_id: str, body: dict[str, Any]) -> Reply:
        operation = body.get("operation_status")
        ids = body.get("campaign_ids")
        if operation not in ("ENABLE", "DISABLE", "DELETE") or not isinstance(ids, list) or not ids:
            return Reply(200, _envelope(40002, "operation_status: must be ENABLE, DISABLE or DELETE; campaign_ids required."))  # fmt: skip
        found = [self._campaign(advertiser_id, i) for i in ids]
        campaigns = [c for c in found if c is not None]
        if len(campaigns) != len(found):
            return Reply(200, _envelope(40002, "campaign_ids: campaign does not exist."))
        for campaign in campaigns:
            campaign.operation_status = operation
        return Reply(200, _envelope(data={"campaign_ids": [str(i) for i in ids]}))

    def _budget(self, advertiser_id: str, body: dict[str, Any]) -> Reply:
        campaign = self._campaign(advertiser_id, body.get("campaign_id"))
        if campaign is None:
            return Reply(200, _envelope(40002, "campaign_id: campaign does not exist."))
        budget = self._number(body.get("budget"))
        if budget is None or budget <= 0 or isinstance(body.get("budget"), str):
            return Reply(200, _envelope(40002, "budget: must be a positive number."))
        campaign.budget = budget
        return Reply(200, _envelope(data={"campaign_id": campaign.campaign_id, "budget": float(budget)}))

    def _ad_groups(self, advertiser_id: str, params: dict[str, Any]) -> Reply:
        try:
            filtering = json.loads(params.get("filtering") or "{}")
        except ValueError:
            return Reply(200, _envelope(40002, "filtering: invalid JSON."))
        ids = {str(i) for i in filtering.get("campaign_ids") or []}
        rows = [
            {
                "adgroup_id": g.adgroup_id,
                "campaign_id": c.campaign_id,
                "bid_price": float(g.bid_price) if g.bid_price is not None else 0,
            }  # fmt: skip
            for c in self.campaigns.values()
            if c.advertiser_id == advertiser_id and (not ids or c.campaign_id in ids)
            for g in c.ad_groups
        ]
        return self._paged(rows, params)

    def _bid(self, advertiser_id: str, body: dict[str, Any]) -> Reply:
        for campaign in self.campaigns.values():
            for group in campaign.ad_groups:
                if campaign.advertiser_id == advertiser_id and group.adgroup_id == str(
                    body.get("adgroup_id")
                ):
                    bid = self._number(body.get("bid_price"))
                    if bid is None or bid <= 0 or isinstance(body.get("bid_price"), str):
                        return Reply(200, _envelope(40002, "bid_price: must be a positive number."))
                    group.bid_price = bid
                    return Reply(200, _envelope(data={"adgroup_id": group.adgroup_id}))
        return Reply(200, _envelope(40002, "adgroup_id: ad group does not exist."))

    def _report(self, advertiser_id: str, params: dict[str, Any]) -> Reply:
        if params.get("report_type") != "BASIC" or params.get("data_level") != "AUCTION_CAMPAIGN":
            return Reply(
                200, _envelope(40002, "report_type/data_level: this fake serves BASIC AUCTION_CAMPAIGN.")
            )
        try:
            dimensions = json.loads(params.get("dimensions") or "[]")
            metrics = json.loads(params.get("metrics") or "[]")
            day_from, day_to = (
                date.fromisoformat(params["start_date"]),
                date.fromisoformat(params["end_date"]),
            )
        except (KeyError, ValueError):
            return Reply(200, _envelope(40002, "dimensions, metrics, start_date and end_date are required."))
        if dimensions != ["campaign_id", "stat_time_day"]:
            return Reply(200, _envelope(40002, "dimensions: campaign_id and stat_time_day expected."))
        currency = self.accounts[advertiser_id].currency
        rows = []
        for campaign_id, day, row in self.spend_rows(advertiser_id, day_from, day_to):
            values = {
                "spend": _amount(row.spend_micros, currency),
                "impressions": str(row.impressions),
                "clicks": str(row.clicks),
                "conversion": str(row.conversions),
                "total_purchase_value": _amount(row.conversion_value_micros, currency),
            }
            rows.append(
                {
                    "dimensions": {
                        "campaign_id": campaign_id,
                        "stat_time_day": f"{day.isoformat()} 00:00:00",
                    },
                    "metrics": {m: values.get(m, "0") for m in metrics},
                }
            )
        return self._paged(rows, params)

    @staticmethod
    def _paged(rows: list[dict[str, Any]], params: dict[str, Any]) -> Reply:
        page, size = int(params.get("page") or 1), min(int(params.get("page_size") or 10), 1000)
        total_page = max(1, math.ceil(len(rows) / size))
        data = {
            "list": rows[(page - 1) * size : page * size],
            "page_info": {
                "page": page,
                "page_size": size,
                "total_number": len(rows),
                "total_page": total_page,
            },
        }
        return Reply(200, _envelope(data=data))
