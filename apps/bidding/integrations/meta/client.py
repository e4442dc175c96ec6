"""Meta Marketing API adapter, over the Graph API (``KIKI_META_API_BASE``, version in
``versions.META_GRAPH_API_VERSION``).

Follows the public shape (developers.facebook.com/docs/marketing-api):
- Auth: ``Authorization: Bearer <access token>`` (the Graph API takes the token as a bearer header as
  well as ``access_token=``; a header keeps it out of URLs and logs).
- Pause / resume / budget: ``POST /{v}/{campaign_id}`` with form fields ``status=PAUSED`` / ``ACTIVE``,
  ``daily_budget=<minor units>`` (cents for USD: Meta counts budgets and bids in the currency's minimum
  denomination). Answers ``{"success": true}``.
- Bid: ``bid_amount`` (minor units) belongs to ad sets, so a campaign's bid is set on each of its ad
  sets: ``GET /{v}/{campaign_id}/adsets?fields=id,bid_amount`` then ``POST /{v}/{adset_id}
  bid_amount=…``.
- Spend: ``GET /{v}/act_{account_id}/insights?level=campaign&time_increment=1&time_range={…}&fields=
  campaign_id,spend,impressions,clicks,actions,action_values,account_currency`` with cursor paging
  (``paging.cursors.after`` / ``paging.next``). ``spend`` is a decimal string in the account currency's
  major unit; conversions are the ``purchase`` entries of ``actions`` / ``action_values``.
- Errors: ``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``,
  usually with HTTP 400. Rate limits come in that envelope: codes 4, 17, 32, 613 and 80000–80014 (the
  business use case limits), with ``X-Business-Use-Case-Usage`` saying
  ``estimated_time_to_regain_access`` in minutes. Codes 1 and 2 and ``is_transient: true`` are
  transient.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from apps.bidding.errors import PlatformError
from apps.bidding.integrations.base import AccountAccess, SpendRow, report_row_key
from apps.bidding.integrations.http import PlatformHttp, retry_after_seconds
from apps.bidding.integrations.units import amount_to_micros, micros_to_minor_units, minor_units_to_micros
from apps.bidding.integrations.versions import META_GRAPH_API_VERSION

PLATFORM = "meta"
_ID = re.compile(r"^\d+$")
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
CONVERSION_ACTION = "purchase"
PAGE_SIZE = 500


class MetaAdapter:
    platform = PLATFORM

    def __init__(self, access: AccountAccess, *, base_url: str, timeout_s: float) -> None:
        self.account_id = access.external_id.removeprefix("act_")
        if not _ID.match(self.account_id):
            raise ValueError(f"a Meta ad account id is digits, got {access.external_id!r}")
        self.currency = access.currency
        headers = {"Authorization": f"Bearer {access.credential('access_token')}"}
        self.http = PlatformHttp(PLATFORM, base_url, headers, timeout_s, error_hook=_error_of)

    def _node(self, object_id: str) -> str:
        if not _ID.match(object_id):
            raise ValueError(f"a Meta object id is digits, got {object_id!r}")
        return f"{META_GRAPH_API_VERSION}/{object_id}"

    def _update(self, object_id: str, fields: dict[str, str]) -> None:
        body = self.http.request("POST", self._node(object_id), data=fields)
        if not (isinstance(body, dict) and body.get("success") is True):
            raise PlatformError(
                platform=PLATFORM,
                status=200,
                code="unexpected_answer",
                message=f"update of {object_id} did not answer success",
                transient=False,
            )

    # --- campaign operations ------------------------------------------------------------------------
    def pause(self, campaign_external_id: str) -> None:
        self._update(campaign_external_id, {"status": "PAUSED"})

    def resume(self, campaign_external_id: str) -> None:
        self._update(campaign_external_id, {"status": "ACTIVE"})

    def set_budget(self, campaign_external_id: str, daily_micros: int) -> int:
        minor = micros_to_minor_units(daily_micros, self.currency)
        self._update(campaign_external_id, {"daily_budget": str(minor)})
        return minor_units_to_micros(minor, self.currency)

    def set_bid(self, campaign_external_id: str, micros: int) -> int:
        minor = micros_to_minor_units(micros, self.currency)
        if minor <= 0:
            raise ValueError("a bid must be at least one minor unit")
        ad_sets = self._collect(
            f"{self._node(campaign_external_id)}/adsets", {"fields": "id,bid_amount", "limit": str(PAGE_SIZE)}
        )
        if not ad_sets:
            raise PlatformError(
                platform=PLATFORM,
                status=None,
                code="no_ad_sets",
                message=f"campaign {campaign_external_id} has no ad sets to carry a bid",
                transient=False,
            )
        for ad_set in ad_sets:
            if int(ad_set.get("bid_amount") or -1) != minor:  # already there: nothing to send
                self._update(str(ad_set["id"]), {"bid_amount": str(minor)})
        return minor_units_to_micros(minor, self.currency)

    # --- reports ------------------------------------------------------------------------------------
    def fetch_spend(self, day_from: date, day_to: date) -> list[SpendRow]:
        params = {
            "level": "campaign",
            "time_increment": "1",
            "time_range": json.dumps({"since": day_from.isoformat(), "until": day_to.isoformat()}),
            "fields": "campaign_id,spend,impressions,clicks,actions,action_values,account_currency",
            "limit": str(PAGE_SIZE),
        }
        rows = []
        for item in self._collect(f"{META_GRAPH_API_VERSION}/act_{self.account_id}/insights", params):
            campaign_id = str(item["campaign_id"])
            day = date.fromisoformat(str(item["date_start"]))
            rows.append(
                SpendRow(
                    campaign_external_id=campaign_id,
                    day=day,
                    spend_micros=amount_to_micros(item.get("spend")),
                    impressions=int(item.get("impressions") or 0),
                    clicks=int(item.get("clicks") or 0),
                    conversions=Decimal(str(_action(item.get("actions")) or 0)),
                    conversion_value_micros=amount_to_micros(_action(item.get("action_values"))),
                    currency=str(item.get("account_currency") or self.currency),
                    report_row_key=report_row_key(PLATFORM, self.account_id, campaign_id, day),
                )
            )
        return rows

    def _collect(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every page of an edge, following ``paging.cursors.after`` while ``paging.next`` is given."""
        items: list[dict[str, Any]] = []
        query = dict(params)
        for _ in range(10_000):
            body = self.http.request("GET", path, params=query) or {}
            items.extend(body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return items
            nxt = parse_qs(urlsplit(str(paging["next"])).query).get("after", [after])[0]
            query["after"] = nxt
        raise PlatformError(
            platform=PLATFORM,
            status=None,
            code="paging_loop",
            message=f"{path}: too many pages",
            transient=False,
        )


def _action(entries: Any) -> str | None:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("action_type") == CONVERSION_ACTION:
            return str(entry.get("value"))
    return None


def _regain_access_s(headers: Mapping[str, str]) -> float | None:
    """``X-Business-Use-Case-Usage``: ``{"<business id>": [{"type", "call_count", …,
    "estimated_time_to_regain_access": <minutes>}]}``: the longest wait it names, in seconds."""
    raw = headers.get("X-Business-Use-Case-Usage") or headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        float(entry.get("estimated_time_to_regain_access") or 0)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ]
    return max(minutes) * 60 if minutes and max(minutes) > 0 else None


def _error_of(status: int, headers: Mapping[str, str], body: Any) -> PlatformError | None:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = int(error.get("code") or 0)
    subcode = error.get("error_subcode")
    message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {status}")
    rate_limited = code in RATE_LIMIT_CODES or status == 429
    transient = rate_limited or status >= 500 or code in TRANSIENT_CODES or error.get("is_transient") is True
    retry_after = None
    if transient:
        retry_after = _regain_access_s(headers) or retry_after_seconds(headers.get("Retry-After"))
    return PlatformError(
        platform=PLATFORM,
        status=status,
        code=f"{code}.{subcode}" if subcode else str(code),
        message=message[:500],
        transient=transient,
        retry_after_s=retry_after,
    )
