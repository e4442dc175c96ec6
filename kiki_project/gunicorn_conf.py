"""gunicorn settings for `make run` and production (values from the environment)."""

import os

from kiki_project.addresses import bind_address

bind = bind_address(os.environ)
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = 60
accesslog = "-" if os.environ.get("KIKI_ACCESS_LOG", "1") == "1" else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss host=%({host}i)s'


def child_exit(server, worker):  # noqa: ANN001 - gunicorn hook signature
    """Prometheus multiprocess mode: drop the dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
