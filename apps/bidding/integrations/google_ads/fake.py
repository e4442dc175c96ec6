"""A loopback Google Ads API (REST), written from the public contract (see ``client.py``'s docstring),
not from our client: ``campaigns:mutate`` and ``campaignBudgets:mutate`` with update masks,
``googleAds:searchStream`` for the two GAQL shapes the platforms need (a campaign's budget; campaign
metrics by ``segments.date``), OAuth bearer + ``developer-token`` checks, and Google's error envelope
(``GoogleAdsFailure`` with ``quotaError`` and ``retryDelay`` for rate limits).

It does not parse GAQL beyond what those queries use: the selected fields, ``FROM``, ``campaign.id =``
and ``segments.date BETWEEN``; anything else answers a ``queryError``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from apps.bidding.integrations.fakes import FakeAdPlatform, bearer, json_body
from apps.bidding.integrations.units import micros_per_minor_unit
from apps.bidding.integrations.versions import GOOGLE_ADS_API_VERSION
from apps.core.fakes import Reply, Request

_PATH = re.compile(rf"^/{GOOGLE_ADS_API_VERSION}/customers/(\d+)/(campaigns:mutate|campaignBudgets:mutate|googleAds:searchStream)$")  # fmt: skip
_SELECT = re.compile(r"^\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+))?\s*$", re.I | re.S)
_BY_ID = re.compile(r"campaign\.id\s*=\s*(\d+)", re.I)
_BETWEEN = re.compile(r"segments\.date\s+BETWEEN\s+'(\d{4}-\d{2}-\d{2})'\s+AND\s+'(\d{4}-\d{2}-\d{2})'", re.I)
DEVELOPER_TOKEN = "fake-developer-token"  # noqa: S105 - the fake's, known to tests


@dataclass
class GoogleCampaign:
    id: str
    status: str = "ENABLED"  # ENABLED | PAUSED | REMOVED
    budget_id: str = ""
    target_cpa_micros: int | None = None


@dataclass
class GoogleBudget:
    id: str
    amount_micros: int


def _failure(
    status: int, grpc: str, message: str, error_code: dict[str, str], **details: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"errorCode": error_code, "message": message}
    if details:
        error["details"] = details
    return {
        "error": {
            "code": status,
            "message": message if status != 400 else "Request contains an invalid argument.",
            "status": grpc,
            "details": [
                {
                    "@type": f"type.googleapis.com/google.ads.googleads.{GOOGLE_ADS_API_VERSION}.errors.GoogleAdsFailure",
                    "errors": [error],
                    "requestId": secrets.token_hex(8),
                }
            ],
        }
    }


class FakeGoogleAds(FakeAdPlatform):
    platform = "google_ads"

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.campaigns: dict[tuple[str, str], GoogleCampaign] = {}  # (customer, campaign id)
        self.budgets: dict[tuple[str, str], GoogleBudget] = {}

    def add_campaign(
        self,
        customer_id: str,
        campaign_id: str,
        *,
        status: str = "ENABLED",
        budget_micros: int = 10_000_000,
        target_cpa_micros: int | None = None,
    ) -> GoogleCampaign:
        budget_id = str(9_000_000 + len(self.budgets) + 1)
        self.budgets[(customer_id, budget_id)] = GoogleBudget(budget_id, budget_micros)
        campaign = GoogleCampaign(campaign_id, status, budget_id, target_cpa_micros)
        self.campaigns[(customer_id, campaign_id)] = campaign
        return campaign

    def campaign(self, customer_id: str, campaign_id: str) -> GoogleCampaign:
        return self.campaigns[(customer_id, campaign_id)]

    def budget_of(self, customer_id: str, campaign_id: str) -> GoogleBudget:
        return self.budgets[(customer_id, self.campaign(customer_id, campaign_id).budget_id)]

    def is_mutation(self, request: Request) -> bool:
        return request.path.endswith(":mutate")

    # --- failures -------------------------------------------------------------------------------------
    def error_reply(self, kind: str, *, status: int | None, retry_after_s: float | None) -> Reply:
        if kind == "rate_limit":
            delay = f"{int(retry_after_s if retry_after_s is not None else 30)}s"
            return Reply(
                status or 429,
                _failure(
                    status or 429,
                    "RESOURCE_EXHAUSTED",
                    f"Too many requests. Retry in {delay}.",
                    {"quotaError": "RESOURCE_EXHAUSTED"},
                    quotaErrorDetails={
                        "rateScope": "ACCOUNT",
                        "rateName": "Requests per method",
                        "retryDelay": delay,
                    },
                ),
            )
        if kind == "server_error":
            code = status or 500
            grpc = "UNAVAILABLE" if code == 503 else "INTERNAL"
            return Reply(
                code, _failure(code, grpc, "Internal error encountered.", {"internalError": "INTERNAL_ERROR"})
            )
        return Reply(
            status or 400,
            _failure(
                status or 400,
                "INVALID_ARGUMENT",
                "The operation is not allowed for the given context.",
                {"operationAccessDeniedError": "OPERATION_NOT_PERMITTED_FOR_CONTEXT"},
            ),
        )

    # --- the API --------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Reply:
        match = _PATH.match(request.path)
        if match is None or request.method != "POST":
            return Reply(404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})
        customer_id, method = match.groups()
        account = self.account_for_token(bearer(request))
        if account is None:
            return Reply(
                401,
                _failure(
                    401,
                    "UNAUTHENTICATED",
                    "Request is missing required authentication credential.",
                    {"authenticationError": "OAUTH_TOKEN_INVALID"},
                ),
            )
        if request.headers.get("developer-token") != DEVELOPER_TOKEN:
            return Reply(
                401,
                _failure(
                    401, "UNAUTHENTICATED", "The developer token is not valid.",
                    {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
                ),
            )  # fmt: skip
        if account.external_id != customer_id:
            return Reply(
                403,
                _failure(
                    403, "PERMISSION_DENIED", "The caller does not have permission",
                    {"authorizationError": "USER_PERMISSION_DENIED"},
                ),
            )  # fmt: skip
        body = json_body(request) or {}
        with self.lock:
            if method == "googleAds:searchStream":
                return self._search(customer_id, str(body.get("query") or ""))
            return self._mutate(customer_id, method, body)

    def _mutate(self, customer_id: str, method: str, body: dict[str, Any]) -> Reply:
        operations = body.get("operations") or []
        if not operations:
            return Reply(400, _failure(400, "INVALID_ARGUMENT", "Operations are required.", {"mutateError": "EMPTY_OPERATIONS"}))  # fmt: skip
        results = []
        kind = "campaigns" if method == "campaigns:mutate" else "campaignBudgets"
        for operation in operations:
            update = operation.get("update") or {}
            mask = [m.strip() for m in str(operation.get("updateMask") or "").split(",") if m.strip()]
            name = str(update.get("resourceName") or "")
            found = re.match(rf"^customers/{customer_id}/{kind}/(\d+)$", name)
            target = None
            if found:
                store = self.campaigns if kind == "campaigns" else self.budgets
                target = store.get((customer_id, found.group(1)))
            if target is None:
                return Reply(
                    400,
                    _failure(
                        400,
                        "INVALID_ARGUMENT",
                        "The requested resource was not found.",
                        {"mutateError": "RESOURCE_NOT_FOUND"},
                    ),  # fmt: skip
                )
            if not mask:
                return Reply(400, _failure(400, "INVALID_ARGUMENT", "An update mask is required.", {"fieldMaskError": "FIELD_MASK_MISSING"}))  # fmt: skip
            error = self._apply(customer_id, target, update, mask)
            if error is not None:
                return error
            results.append({"resourceName": name})
        return Reply(200, {"results": results})

    def _apply(self, customer_id: str, target: Any, update: dict[str, Any], mask: list[str]) -> Reply | None:
        for path in mask:
            if isinstance(target, GoogleCampaign) and path == "status":
                if update.get("status") not in ("ENABLED", "PAUSED", "REMOVED"):
                    return Reply(400, _failure(400, "INVALID_ARGUMENT", "Invalid campaign status.", {"fieldError": "INVALID_VALUE"}))  # fmt: skip
                target.status = update["status"]
            elif isinstance(target, GoogleCampaign) and path == "maximizeConversions.targetCpaMicros":
                value = int((update.get("maximizeConversions") or {}).get("targetCpaMicros") or 0)
                if value <= 0:
                    return Reply(400, _failure(400, "INVALID_ARGUMENT", "Target CPA must be positive.", {"rangeError": "TOO_LOW"}))  # fmt: skip
                target.target_cpa_micros = value
            elif isinstance(target, GoogleBudget) and path == "amountMicros":
                value = int(update.get("amountMicros") or 0)
                currency = self.accounts[customer_id].currency
                if value <= 0 or value % micros_per_minor_unit(currency):
                    return Reply(
                        400,
                        _failure(
                            400, "INVALID_ARGUMENT",
                            "Budget amount must be a multiple of the minimum currency unit.",
                            {"campaignBudgetError": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"},
                        ),
                    )  # fmt: skip
                target.amount_micros = value
            else:
                return Reply(400, _failure(400, "INVALID_ARGUMENT", f"Field '{path}' cannot be updated.", {"fieldMaskError": "FIELD_NOT_FOUND"}))  # fmt: skip
        return None

    def _search(self, customer_id: str, query: str) -> Reply:
        parsed = _SELECT.match(query)
        if parsed is None or parsed.group(2).lower() != "campaign":
            return Reply(400, _failure(400, "INVALID_ARGUMENT", "Error in query.", {"queryError": "UNEXPECTED_INPUT"}))  # fmt: skip
        fields = {f.strip() for f in parsed.group(1).split(",")}
        where = parsed.group(3) or ""
        by_id, between = _BY_ID.search(where), _BETWEEN.search(where)
        results: list[dict[str, Any]] = []
        if between:
            day_from, day_to = date.fromisoformat(between.group(1)), date.fromisoformat(between.group(2))
            currency = self.accounts[customer_id].currency
            for campaign_id, day, row in self.spend_rows(customer_id, day_from, day_to):
                metrics: dict[str, Any] = {}
                # proto3 JSON: int64 as strings, doubles as numbers, default values left out.
                if row.spend_micros:
                    metrics["costMicros"] = str(row.spend_micros)
                if row.impressions:
                    metrics["impressions"] = str(row.impressions)
                if row.clicks:
                    metrics["clicks"] = str(row.clicks)
                if row.conversions:
                    metrics["conversions"] = float(row.conversions)
                if row.conversion_value_micros:
                    metrics["conversionsValue"] = row.conversion_value_micros / 1_000_000
                result: dict[str, Any] = {
                    "campaign": {
                        "resourceName": f"customers/{customer_id}/campaigns/{campaign_id}",
                        "id": campaign_id,
                    },
                    "segments": {"date": day.isoformat()},
                    "metrics": metrics,
                }
                if "customer.currency_code" in fields:
                    result["customer"] = {
                        "resourceName": f"customers/{customer_id}",
                        "currencyCode": currency,
                    }
                results.append(result)
        elif by_id:
            campaign = self.campaigns.get((customer_id, by_id.group(1)))
            if campaign is not None:
                row_out: dict[str, Any] = {
                    "resourceName": f"customers/{customer_id}/campaigns/{campaign.id}",
                    "id": campaign.id,
                }
                if "campaign.campaign_budget" in fields:
                    row_out["campaignBudget"] = (
                        f"customers/{customer_id}/campaignBudgets/{campaign.budget_id}"
                    )
                if "campaign.status" in fields:
                    row_out["status"] = campaign.status
                results.append({"campaign": row_out})
        else:
            return Reply(400, _failure(400, "INVALID_ARGUMENT", "Error in query.", {"queryError": "PROHIBITED_FIELD"}))  # fmt: skip
        batch: dict[str, Any] = {"fieldMask": ",".join(sorted(fields)), "requestId": secrets.token_hex(8)}
        if results:
            batch["results"] = results
        return Reply(200, [batch])
