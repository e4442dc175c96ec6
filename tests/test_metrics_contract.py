"""Every metric a Grafana panel queries is exported by the process registry (STYLE.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "increase",
    "histogram_quantile",
    "max",
    "min",
    "avg",
    "count",
    "without",
    "le",
    "irate",
    "topk",
    "bottomk",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
}
_SUFFIXES = {
    "counter": ["_total", "_created"],
    "histogram": ["_bucket", "_sum", "_count", "_created"],
    "summary": ["_sum", "_count", "_created"],
    "gauge": [""],
    "info": ["_info"],
}


def dashboard_metrics() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "grafana" / "dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = re.sub(r"\{[^}]*\}", "", target["expr"])  # drop label matchers
                expr = re.sub(r"\[[^\]]*\]", "", expr)  # drop range selectors
                expr = re.sub(r"\bby\s*\([^)]*\)", "", expr)  # drop grouping labels
                for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
                    if token not in PROMQL_WORDS:
                        names.add(token)
    return names


def exported_metrics() -> set[str]:
    from django_prometheus.middleware import Metrics

    import kiki_project.urls_public  # noqa: F401 - imports every app's metrics module
    import kiki_project.urls_tenants  # noqa: F401

    Metrics.get_instance()  # the middleware registers its families on first use

    names: set[str] = set()
    for family in REGISTRY.collect():
        base = family.name
        for suffix in _SUFFIXES.get(family.type, [""]):
            names.add(base + suffix)
        names.update(sample.name for sample in family.samples)
    return names


def test_dashboards_exist_and_query_something():
    assert dashboard_metrics(), "no Grafana dashboards found"


def test_every_dashboard_metric_is_exported():
    missing = dashboard_metrics() - exported_metrics()
    assert not missing, f"dashboards query metrics nobody exports: {sorted(missing)}"
