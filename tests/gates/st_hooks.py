"""Schemathesis hooks for the API fuzzing gate (loaded through ``SCHEMATHESIS_HOOKS``).

``workspace_isolation``: whatever one workspace's principal gets back, the other workspace never
shows. For every object with an ``id`` in a 2xx answer (a created object, a detail, the rows of a
list), the same object is asked for on the other workspace's host, with that workspace's Admin
token made for this run. Ids are per-schema sequences, so the other workspace may well have an object with the same
id; it must never be *this* object (same fields, same values, timestamps to the microsecond).

The other workspace is named by the environment: ``KIKI_GATE_OTHER_HOST``,
``KIKI_GATE_OTHER_AUTH`` (an ``Authorization`` header value) and ``KIKI_GATE_BASE_URL``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import requests
import schemathesis

_DETAIL = re.compile(r"/\{[^}/]+\}$")
_MAX_OBJECTS_PER_RESPONSE = 3


def _objects(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        rows = [row for row in body["results"] if isinstance(row, dict) and "id" in row]
        return rows[:_MAX_OBJECTS_PER_RESPONSE]
    if isinstance(body, dict) and "id" in body:
        return [body]
    return []


@schemathesis.check
class workspace_isolation:  # noqa: N801 - the check's name as the CLI and reports show it
    """Objects one workspace's principal can see are never visible in the other workspace."""

    def __init__(self) -> None:
        self.base_url = os.environ["KIKI_GATE_BASE_URL"]
        self.other_host = os.environ["KIKI_GATE_OTHER_HOST"]
        self.other_auth = os.environ["KIKI_GATE_OTHER_AUTH"]
        self.session = requests.Session()
        self.checked: set[tuple[str, str]] = set()

    def after_response(self, ctx: Any, response: Any, case: Any) -> None:
        if not 200 <= response.status_code < 300 or case.method.upper() not in {"GET", "POST"}:
            return
        try:
            body = json.loads(response.content)
        except ValueError:
            return
        path = case.operation.path
        collection = _DETAIL.sub("", path) if _DETAIL.search(path) else path
        for obj in _objects(body):
            url_path = f"{collection}/{obj['id']}"
            if (url_path, json.dumps(obj, sort_keys=True)) in self.checked:
                continue
            self.checked.add((url_path, json.dumps(obj, sort_keys=True)))
            other = self.session.get(
                f"{self.base_url}{url_path}",
                headers={"Host": self.other_host, "Authorization": self.other_auth},
                timeout=10,
            )
            if other.status_code in (401, 403):
                raise AssertionError(
                    f"the other workspace refused the observer's credential ({other.status_code}); "
                    "the isolation check would prove nothing"
                )
            if other.status_code == 200 and other.json() == obj:
                raise AssertionError(
                    f"{case.operation.label} returned {url_path} in this workspace, and the other "
                    f"workspace ({self.other_host}) serves the very same object at {url_path}: {obj}"
                )
