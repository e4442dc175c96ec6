"""Platform metrics (process counters are multiprocess-safe via PROMETHEUS_MULTIPROC_DIR)."""

from prometheus_client import Counter, Histogram

TASK_DURATION = Histogram(
    "kiki_core_task_duration_seconds",
    "Celery task run time",
    ["task", "status"],
    buckets=(0.005, 0.02, 0.1, 0.5, 1, 5, 30, 120, 600),
)
TASK_FAILURES = Counter("kiki_core_task_failures_total", "Celery task failures", ["task"])
API_THROTTLED = Counter("kiki_core_api_throttled_total", "API requests refused with 429", ["scope"])
SIGNUPS = Counter("kiki_core_signups_total", "Tenant signups", ["outcome"])
