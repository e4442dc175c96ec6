"""Governance metrics. The budget gauges of the metrics contract (ARCHITECTURE.md) are read from the
database when /metrics is scraped, so every process reports the same truth:

- ``syncflow_budget_spent_micros{tenant, campaign_id}``: actual spend today (the workspace's local day):
  committed reservations and spend reported by the platforms;
- ``syncflow_budget_limit_micros{tenant, campaign_id}``: that campaign's daily cap in the current policy
  (campaigns without a cap export no limit).

Campaigns listed: those with spend today and those with a cap of their own. ``tenant`` is the schema.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.core.metrics import register_scrape_collector

if TYPE_CHECKING:
    from apps.governance.services.budget import CampaignUsage

logger = logging.getLogger(__name__)


class BudgetGauges(Collector):
    SPENT = ("syncflow_budget_spent_micros", "Actual ad spend so far today (workspace's local day), micros")
    LIMIT = ("syncflow_budget_limit_micros", "Daily budget cap of the campaign in the current policy, micros")
    LABELS = ("tenant", "campaign_id")

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(*self.SPENT, labels=self.LABELS),
            GaugeMetricFamily(*self.LIMIT, labels=self.LABELS),
        ]

    def collect(self) -> Iterable[Metric]:
        spent = GaugeMetricFamily(*self.SPENT, labels=self.LABELS)
        limit = GaugeMetricFamily(*self.LIMIT, labels=self.LABELS)
        try:
            rows = self._rows()
        except Exception:
            logger.exception("reading budget usage for the metrics failed")
            rows = []
        for schema, usage in rows:
            spent.add_metric([schema, usage.campaign], usage.spent_micros)
            if usage.limit_micros is not None:
                limit.add_metric([schema, usage.campaign], usage.limit_micros)
        yield spent
        yield limit

    def _rows(self) -> list[tuple[str, CampaignUsage]]:
        from django_tenants.utils import schema_context

        from apps.governance.services.budget import budget_campaign_usage
        from apps.governance.tenancy.selectors import active_tenant_schema_names

        rows: list[tuple[str, CampaignUsage]] = []
        for schema in active_tenant_schema_names():
            with schema_context(schema):
                rows += [(schema, usage) for usage in budget_campaign_usage(create_policy=False)]
        return rows


BUDGET_GAUGES = BudgetGauges()
register_scrape_collector(BUDGET_GAUGES)
