"""A loopback LinkedIn Marketing API (versioned ``/rest/``), written from the public contract (see
``client.py``'s docstring): ``LinkedIn-Version`` and ``X-Restli-Protocol-Version`` required on every call,
Rest.li ``PARTIAL_UPDATE`` of ``/rest/adAccounts/{id}/adCampaigns/{id}`` with ``{"patch": {"$set": …}}``
(``status``, ``dailyBudget``, ``unitCost`` as ``{"amount", "currencyCode"}``) answering 204, and
``/rest/adAnalytics?q=analytics`` with ``pivot=CAMPAIGN``, ``timeGranularity=DAILY``, a Rest.li
``dateRange`` and ``accounts=List(urn…)``. Errors: ``{"status", "code", "message"}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.bidding.integrations.fakes import FakeAdPlatform, bearer, json_body
from apps.bidding.integrations.units import minor_unit_exponent
from apps.bidding.integrations.versions import LINKEDIN_API_VERSION
from apps.core.fakes import Reply, Request

_CAMPAIGN = re.compile(r"^/rest/adAccounts/(\d+)/adCampaigns/(\d+)$")
_DATE = r"\(year:(\d{4}),month:(\d{1,2}),day:(\d{1,2})\)"
_RANGE = re.compile(rf"^\(start:{_DATE},end:{_DATE}\)$")
_ACCOUNTS = re.compile(r"^List\(urn:li:sponsoredAccount:(\d+)\)$")


@dataclass
class LinkedInCampaign:
    id: str
    account_id: str
    status: str = "ACTIVE"  # ACTIVE | PAUSED | ARCHIVED | DRAFT | …
    daily_budget: Decimal = Decimal("50.00")  # major unit, in the account currency
    unit_cost: Decimal = Decimal("5.00")


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"status": status, "code": code, "message": message})


def _amount(micros: int, currency: str) -> str:
    return str((Decimal(micros) / 1_000_000).quantize(Decimal(1).scaleb(-minor_unit_exponent(currency))))


class FakeLinkedIn(FakeAdPlatform):
    platform = "linkedin"

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.campaigns: dict[str, LinkedInCampaign] = {}

    def add_campaign(
        self,
        account_id: str,
        campaign_id: str,
        *,
        status: str = "ACTIVE",
        daily_budget: Decimal | str = "50.00",
        unit_cost: Decimal | str = "5.00",
    ) -> LinkedInCampaign:
        campaign = LinkedInCampaign(
            campaign_id, account_id, status, Decimal(daily_budget), Decimal(unit_cost)
        )
        self.campaigns[campaign_id] = campaign
        return campaign

    def is_mutation(self, request: Request) -> bool:
        return request.headers.get("x-restli-method", "").upper() == "PARTIAL_UPDATE"

    def error_reply(self, kind: str, *, status: int | None, retry_after_s: float | None) -> Reply:
        if kind == "rate_limit":
            reply = _error(status or 429, "TOO_MANY_REQUESTS", "Resource level throttle APPLICATION DAY limit for calls to this resource is reached.")  # fmt: skip
            if retry_after_s is not None:
                reply.headers["Retry-After"] = str(int(retry_after_s))
            return reply
        if kind == "server_error":
            return _error(status or 500, "INTERNAL_SERVER_ERROR", "Internal Server Error")
        return _error(status or 400, "ILLEGAL_ARGUMENT", "Invalid value for field; campaign is not editable.")

    # --- the API --------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        account = self.account_for_token(bearer(request))
        if account is None:
            return _error(401, "EMPTY_ACCESS_TOKEN", "Empty oauth2 access token")
        version = request.headers.get("linkedin-version", "")
        if not version:
            return _error(400, "VERSION_MISSING", "A version must be present. Please specify a version by adding the LinkedIn-Version header.")  # fmt: skip
        if version != LINKEDIN_API_VERSION:
            return _error(426, "NONEXISTENT_VERSION", f"Requested version {version} is not active")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return _error(400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version 2.0.0 is required")
        with self.lock:
            campaign = _CAMPAIGN.match(request.path)
            if campaign and request.method == "POST":
                if campaign.group(1) != account.external_id:
                    return _error(403, "ACCESS_DENIED", "Not enough permissions to access: partialUpdate /adAccounts.adCampaigns")  # fmt: skip
                return self._partial_update(campaign.group(1), campaign.group(2), request)
            if request.path == "/rest/adAnalytics" and request.method == "GET":
                return self._analytics(account.external_id, request)
        return _error(404, "NOT_FOUND", f"No virtual resource found for {request.path}")

    def _partial_update(self, account_id: str, campaign_id: str, request: Request) -> Reply:
        if request.headers.get("x-restli-method", "").upper() != "PARTIAL_UPDATE":
            return _error(
                400, "ILLEGAL_ARGUMENT", "Rest.li method must be PARTIAL_UPDATE (X-RestLi-Method header)"
            )
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or campaign.account_id != account_id:
            return _error(404, "NOT_FOUND", f"Campaign {campaign_id} does not exist")
        body = json_body(request)
        changes = ((body or {}).get("patch") or {}).get("$set") if isinstance(body, dict) else None
        if not isinstance(changes, dict) or not changes:
            return _error(400, "ILLEGAL_ARGUMENT", "Body must be {'patch': {'$set': {...}}}")
        currency = self.accounts[account_id].currency
        updates: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "status":
                if value not in ("ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "CANCELED"):
                    return _error(400, "ILLEGAL_ARGUMENT", f"Invalid status {value!r}")
                updates["status"] = value
            elif name in ("dailyBudget", "unitCost"):
                amount = self._money(value, currency)
                if amount is None:
                    return _error(400, "ILLEGAL_ARGUMENT", f"{name} must be {{amount: decimal string, currencyCode: {currency}}}")  # fmt: skip
                updates["daily_budget" if name == "dailyBudget" else "unit_cost"] = amount
            else:
                return _error(400, "ILLEGAL_ARGUMENT", f"Field {name} cannot be partially updated")
        for attr, value in updates.items():
            setattr(campaign, attr, value)
        return Reply(204, None, {"x-restli-id": campaign_id})

    @staticmethod
    def _money(value: Any, currency: str) -> Decimal | None:
        if not isinstance(value, dict) or value.get("currencyCode") != currency:
            return None
        raw = value.get("amount")
        if not isinstance(raw, str):
            return None
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            return None
        if amount <= 0 or amount != amount.quantize(Decimal(1).scaleb(-minor_unit_exponent(currency))):
            return None
        return amount

    def _analytics(self, account_id: str, request: Request) -> Reply:
        if (request.arg("q"), request.arg("pivot"), request.arg("timeGranularity")) != ("analytics", "CAMPAIGN", "DAILY"):  # fmt: skip
            return _error(400, "ILLEGAL_ARGUMENT", "This fake serves q=analytics, pivot=CAMPAIGN, timeGranularity=DAILY")  # fmt: skip
        span = _RANGE.match(request.arg("dateRange") or "")
        accounts = _ACCOUNTS.match(request.arg("accounts") or "")
        if span is None or accounts is None:
            return _error(400, "ILLEGAL_ARGUMENT", "dateRange=(start:(…),end:(…)) and accounts=List(urn…) are required")  # fmt: skip
        if accounts.group(1) != account_id:
            return _error(
                403, "ACCESS_DENIED", "Not enough permissions to access: adAnalytics for this account"
            )
        y1, m1, d1, y2, m2, d2 = (int(g) for g in span.groups())
        currency = self.accounts[account_id].currency
        fields = set((request.arg("fields") or "").split(","))
        elements = []
        for campaign_id, day, row in self.spend_rows(account_id, date(y1, m1, d1), date(y2, m2, d2)):
            element: dict[str, Any] = {
                "pivotValues": [f"urn:li:sponsoredCampaign:{campaign_id}"],
                "dateRange": {
                    "start": {"year": day.year, "month": day.month, "day": day.day},
                    "end": {"year": day.year, "month": day.month, "day": day.day},
                },
                "costInLocalCurrency": _amount(row.spend_micros, currency),
                "impressions": row.impressions,
                "clicks": row.clicks,
                "externalWebsiteConversions": int(row.conversions),
                "conversionValueInLocalCurrency": _amount(row.conversion_value_micros, currency),
            }
            elements.append({k: v for k, v in element.items() if not fields - {""} or k in fields})
        return Reply(200, {"elements": elements, "paging": {"count": 10, "start": 0, "links": []}})
