"""A loopback Meta Marketing API (Graph API), written from the public contract (see ``client.py``'s
docstring): ``POST /{v}/{campaign or ad set id}`` with form fields (``status``, ``daily_budget``,
``bid_amount`` in the currency's minor unit), ``GET /{v}/{campaign_id}/adsets``, ``GET /{v}/act_{id}/
insights`` at campaign level with ``time_increment=1`` and cursor paging, bearer tokens, and Meta's
error envelope (``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``) with its
rate-limit codes (17 / 80004) and the ``X-Business-Use-Case-Usage`` header.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode

from apps.bidding.integrations.fakes import FakeAdPlatform, bearer
from apps.bidding.integrations.units import minor_unit_exponent
from apps.bidding.integrations.versions import META_GRAPH_API_VERSION
from apps.core.fakes import Reply, Request

_NODE = re.compile(rf"^/{re.escape(META_GRAPH_API_VERSION)}/(\d+)$")
_ADSETS = re.compile(rf"^/{re.escape(META_GRAPH_API_VERSION)}/(\d+)/adsets$")
_INSIGHTS = re.compile(rf"^/{re.escape(META_GRAPH_API_VERSION)}/act_(\d+)/insights$")


@dataclass
class MetaAdSet:
    id: str
    bid_amount: int | None = None  # minor units


@dataclass
class MetaCampaign:
    id: str
    account_id: str
    status: str = "ACTIVE"  # ACTIVE | PAUSED | ARCHIVED
    daily_budget: int = 1000  # minor units (cents)
    ad_sets: list[MetaAdSet] = field(default_factory=list)


def _error(message: str, code: int, *, subcode: int | None = None, kind: str = "OAuthException", transient: bool = False) -> dict[str, Any]:  # fmt: skip
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "is_transient": transient,
        "fbtrace_id": secrets.token_urlsafe(8),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def _amount(micros: int, currency: str) -> str:
    places = minor_unit_exponent(currency)
    return str((Decimal(micros) / 1_000_000).quantize(Decimal(1).scaleb(-places)))


class FakeMeta(FakeAdPlatform):
    platform = "meta"
    page_size_max = 500

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.campaigns: dict[str, MetaCampaign] = {}
        self.ad_sets: dict[str, tuple[str, MetaAdSet]] = {}  # ad set id → (campaign id, ad set)

    def add_campaign(
        self,
        account_id: str,
        campaign_id: str,
        *,
        status: str = "ACTIVE",
        daily_budget: int = 1000,
        ad_set_ids: tuple[str, ...] = (),
        bid_amount: int | None = None,
    ) -> MetaCampaign:
        campaign = MetaCampaign(campaign_id, account_id, status, daily_budget)
        for ad_set_id in ad_set_ids:
            ad_set = MetaAdSet(ad_set_id, bid_amount)
            campaign.ad_sets.append(ad_set)
            self.ad_sets[ad_set_id] = (campaign_id, ad_set)
        self.campaigns[campaign_id] = campaign
        return campaign

    def is_mutation(self, request: Request) -> bool:
        return request.method == "POST"

    def error_reply(self, kind: str, *, status: int | None, retry_after_s: float | None) -> Reply:
        if kind == "rate_limit":
            minutes = round((retry_after_s if retry_after_s is not None else 60) / 60, 2)
            usage = {
                "1000001": [
                    {
                        "type": "ads_management",
                        "call_count": 100,
                        "total_cputime": 12,
                        "total_time": 20,
                        "estimated_time_to_regain_access": minutes,
                    }
                ]
            }
            return Reply(
                status or 400,
                _error(
                    "There have been too many calls to this ad-account. Wait a bit and try again.",
                    80004,
                    subcode=2446079,
                ),  # fmt: skip
                {"X-Business-Use-Case-Usage": json.dumps(usage)},
            )
        if kind == "server_error":
            return Reply(status or 500, _error("An unknown error occurred", 1, transient=True))
        return Reply(
            status or 400,
            _error("Invalid parameter", 100, subcode=1885272, kind="FacebookApiException"),
        )

    # --- the API --------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        account = self.account_for_token(bearer(request))
        if account is None:
            return Reply(401, _error("Invalid OAuth access token - Cannot parse access token", 190))
        with self.lock:
            node = _NODE.match(request.path)
            if node and request.method == "POST":
                return self._update(account.external_id, node.group(1), request)
            ad_sets = _ADSETS.match(request.path)
            if ad_sets and request.method == "GET":
                campaign = self.campaigns.get(ad_sets.group(1))
                if campaign is None or campaign.account_id != account.external_id:
                    return self._missing(ad_sets.group(1))
                data = [{"id": a.id, "bid_amount": str(a.bid_amount) if a.bid_amount is not None else None} for a in campaign.ad_sets]  # fmt: skip
                return self._page(request, data, f"/{campaign.id}/adsets")
            insights = _INSIGHTS.match(request.path)
            if insights and request.method == "GET":
                if insights.group(1) != account.external_id:
                    return Reply(403, _error("(#200) Ad account owner has NOT grant ads_management or ads_read permission", 200))  # fmt: skip
                return self._insights(account.external_id, request)
        return Reply(400, _error("Unknown path components", 2500))

    def _missing(self, object_id: str) -> Reply:
        return Reply(
            400,
            _error(
                f"Unsupported post request. Object with ID '{object_id}' does not exist, cannot be loaded due "
                "to missing permissions, or does not support this operation.",
                100,
                subcode=33,
                kind="GraphMethodException",
            ),
        )

    def _update(self, account_id: str, object_id: str, request: Request) -> Reply:
        fields = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        campaign = self.campaigns.get(object_id)
        if campaign is not None and campaign.account_id == account_id:
            unknown = set(fields) - {"status", "daily_budget"}
            if unknown:
                return Reply(
                    400, _error(f"(#100) Param {sorted(unknown)[0]} is not valid for a campaign", 100)
                )
            if "status" in fields:
                if fields["status"] not in ("ACTIVE", "PAUSED", "ARCHIVED"):
                    return Reply(400, _error("(#100) Param status must be one of {ACTIVE, PAUSED, ARCHIVED}", 100))  # fmt: skip
                campaign.status = fields["status"]
            if "daily_budget" in fields:
                if not fields["daily_budget"].isdigit() or int(fields["daily_budget"]) < 100:
                    return Reply(400, _error("Your budget is too low.", 100, subcode=1885272))
                campaign.daily_budget = int(fields["daily_budget"])
            return Reply(200, {"success": True})
        owner = self.ad_sets.get(object_id)
        if owner is not None and self.campaigns[owner[0]].account_id == account_id:
            if set(fields) != {"bid_amount"} or not fields["bid_amount"].isdigit():
                return Reply(400, _error("(#100) bid_amount must be an integer in the minor unit", 100))
            owner[1].bid_amount = int(fields["bid_amount"])
            return Reply(200, {"success": True})
        return self._missing(object_id)

    def _page(self, request: Request, data: list[dict[str, Any]], path: str) -> Reply:
        limit = min(int(request.arg("limit") or 25), self.page_size_max)
        start = int(base64.b64decode(request.arg("after") or "MA==").decode() or 0)
        page, end = data[start : start + limit], start + limit
        body: dict[str, Any] = {"data": page}
        if page:
            cursors = {
                "before": base64.b64encode(str(start).encode()).decode(),
                "after": base64.b64encode(str(end).encode()).decode(),
            }
            body["paging"] = {"cursors": cursors}
            if end < len(data):
                query = {k: v[0] for k, v in request.query.items()}
                query["after"] = cursors["after"]
                body["paging"]["next"] = f"{self.url}/{META_GRAPH_API_VERSION}{path}?{urlencode(query)}"
        return Reply(200, body)

    def _insights(self, account_id: str, request: Request) -> Reply:
        if request.arg("level") != "campaign" or request.arg("time_increment") != "1":
            return Reply(
                400, _error("(#100) level=campaign and time_increment=1 are what this fake serves", 100)
            )
        try:
            time_range = json.loads(request.arg("time_range") or "{}")
            day_from, day_to = (
                date.fromisoformat(time_range["since"]),
                date.fromisoformat(time_range["until"]),
            )
        except (KeyError, ValueError):
            return Reply(
                400, _error("(#100) time_range must be {'since':YYYY-MM-DD,'until':YYYY-MM-DD}", 100)
            )
        currency = self.accounts[account_id].currency
        data = []
        for campaign_id, day, row in self.spend_rows(account_id, day_from, day_to):
            item: dict[str, Any] = {
                "campaign_id": campaign_id,
                "spend": _amount(row.spend_micros, currency),
                "impressions": str(row.impressions),
                "clicks": str(row.clicks),
                "account_currency": currency,
                "date_start": day.isoformat(),
                "date_stop": day.isoformat(),
            }
            if row.conversions:
                item["actions"] = [
                    {"action_type": "link_click", "value": str(row.clicks)},
                    {"action_type": "purchase", "value": str(row.conversions)},
                ]
                item["action_values"] = [{"action_type": "purchase", "value": _amount(row.conversion_value_micros, currency)}]  # fmt: skip
            data.append(item)
        return self._page(request, data, f"/act_{account_id}/insights")
