"""Platform metrics (process counters are multiprocess-safe via PROMETHEUS_MULTIPROC_DIR), and the
registry ``/metrics`` exports.

Business gauges (ARCHITECTURE.md: breakers per state, budgets) are read from the database when scraped,
by collectors the apps register with ``register_scrape_collector``: every process then reports the
same truth, and in multiprocess mode the web process's ``/metrics`` runs them next to the merged
process counters.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.registry import Collector

TASK_DURATION = Histogram(
    "kiki_core_task_duration_seconds",
    "Celery task run time",
    ["task", "status"],
    buckets=(0.005, 0.02, 0.1, 0.5, 1, 5, 30, 120, 600),
)
TASK_FAILURES = Counter("kiki_core_task_failures_total", "Celery task failures", ["task"])
API_THROTTLED = Counter("kiki_core_api_throttled_total", "API requests refused with 429", ["scope"])
SIGNUPS = Counter("kiki_core_signups_total", "Tenant signups", ["outcome"])

_SCRAPE_COLLECTORS: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Export ``collector`` (which reads the database in ``collect()``) from every registry ``/metrics``
    serves. It must define ``describe()``, so registering it reads nothing. Registering twice is a no-op.
    """
    if any(known is collector for known in _SCRAPE_COLLECTORS):
        return
    _SCRAPE_COLLECTORS.append(collector)
    REGISTRY.register(collector)


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"))


def export_registry() -> CollectorRegistry:
    """What ``/metrics`` exports: the process registry, or in multiprocess mode every process's
    counters merged from PROMETHEUS_MULTIPROC_DIR plus the scrape-time collectors."""
    if not _multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    for collector in _SCRAPE_COLLECTORS:
        registry.register(collector)
    return registry
