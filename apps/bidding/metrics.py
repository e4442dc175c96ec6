import logging
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from apps.core.metrics import register_scrape_collector

logger = logging.getLogger(__name__)

# Contract name (ARCHITECTURE.md): exported as syncvalue_predicted_ltv_total, in micros.
PREDICTED_LTV = Counter(
    "syncvalue_predicted_ltv", "Sum of predicted LTV of scored customers (micros)", ["tenant"]
)
LTV_SCORE_SECONDS = Histogram(
    "kiki_bidding_ltv_score_seconds",
    "LTV scoring round trip through the ml worker",
    ["fallback"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
LTV_MODELS_TRAINED = Counter(
    "kiki_bidding_ltv_models_trained",
    "LTV training runs by outcome (promoted, rejected, unchanged, too_little_data, error)",
    ["outcome"],
)
# Contract name (ARCHITECTURE.md): exported as syncflow_spend_total, micros of ad spend as the platforms
# report it; incremented by what a report adds (a re-fetched day adds only its increase).
SPEND_TOTAL = Counter("syncflow_spend", "Ad spend reported by the platforms (micros)", ["tenant", "platform"])
PLATFORM_CHANGES = Counter(
    "kiki_bidding_platform_changes",
    "Platform changes by kind and outcome (sent, failed, dry_run, cancelled, retry, circuit_open)",
    ["kind", "outcome"],
)
LTV_SCORED_CUSTOMERS = Counter(
    "kiki_bidding_ltv_customers_scored",
    "Customers scored by the batch scoring task (fallback: BG/NBD+GG, no active model)",
    ["fallback"],
)


class CircuitBreakerStates(Collector):
    """``syncflow_circuit_breaker_state_count{tenant, platform, state}`` (ARCHITECTURE.md): breakers per
    state, read at scrape time from the CircuitState mirror rows of every active workspace (one query
    per 100 workspaces), so every process reports the same truth. An account without a mirror row has
    never tripped: its breaker is closed. Each platform with accounts in a workspace reports all three
    states, 0 where none. A failed read is logged and exports no samples rather than failing /metrics.
    """

    NAME = "syncflow_circuit_breaker_state_count"
    DOC = "Ad platform account circuit breakers in each state"
    LABELS = ("tenant", "platform", "state")
    STATES = ("closed", "open", "half_open")
    CHUNK = 100

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.NAME, self.DOC, labels=self.LABELS)]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.NAME, self.DOC, labels=self.LABELS)
        try:
            counts = self._counts()
        except Exception:
            logger.exception("reading circuit breaker states for the metrics failed")
            counts = {}
        for (tenant, platform), by_state in sorted(counts.items()):
            for state in self.STATES:
                family.add_metric([tenant, platform, state], by_state.get(state, 0))
        yield family

    def _counts(self) -> dict[tuple[str, str], dict[str, int]]:
        from django.db import connection

        from apps.bidding.models import AdPlatformAccount, CircuitState
        from apps.governance.tenancy.selectors import active_tenant_schema_names

        qn = connection.ops.quote_name
        accounts, circuits = AdPlatformAccount._meta.db_table, CircuitState._meta.db_table
        schemas = active_tenant_schema_names()
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for start in range(0, len(schemas), self.CHUNK):
            chunk = schemas[start : start + self.CHUNK]
            # Identifiers are quoted schema names of existing workspaces (django-tenants validates them).
            sql = " UNION ALL ".join(
                f"SELECT %s, a.platform, COALESCE(c.state, 'closed'), COUNT(*)"  # noqa: S608
                f" FROM {qn(schema)}.{qn(accounts)} a"
                f" LEFT JOIN {qn(schema)}.{qn(circuits)} c ON c.account_id = a.id GROUP BY 2, 3"
                for schema in chunk
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, chunk)
                for tenant, platform, state, n in cursor.fetchall():
                    counts.setdefault((tenant, platform), {})[state] = int(n)
        return counts


CIRCUIT_BREAKER_STATES = CircuitBreakerStates()
register_scrape_collector(CIRCUIT_BREAKER_STATES)
