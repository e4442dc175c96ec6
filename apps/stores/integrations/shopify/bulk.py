"""Shopify bulk operations for full syncs (api-contracts.md §1c).

A paginated full sync is capped by Shopify's cost bucket: a 50-order page costs about 800 points, so
even Plus's 1,000 points/s restore rate allows about 60 orders/s. A bulk operation costs one query:
Shopify runs it, we poll it, and download one JSONL file of every object.

The file: one JSON object per line. A nested connection's nodes (an order's line items, a product's
variants) are lines of their own carrying ``__parentId``, after their parent. We hand the sync pages
of ``BULK_CHUNK`` root objects, each reassembled into the same node shape the paginated queries return,
so one parser (``order_from_graphql``, ``product_from_graphql``) serves both paths.

Resumable: a page's cursor is the byte offset where the next root object's line starts, with the
operation's id and URL. A worker killed mid-file resumes with an HTTP ``Range`` request from there
(or by skipping as many bytes, when the server answers the whole file). An expired URL (it lives 7
days) or an operation that failed starts a new operation; the rows already written are upserted
again unchanged, so nothing counts twice.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from apps.stores.integrations.base import HttpClient, PlatformError

logger = logging.getLogger(__name__)

BULK_CHUNK = 1000  # root objects per page handed to the sync (one orders_upsert call)
POLL_S = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between polls, the last one repeating
POLL_BUDGET_S = 240.0  # then hand back an empty page: the run's cursor (and liveness) is saved
RESTARTS = 2  # new operations after one failed or its file expired, within one fetch
RUNNING = frozenset({"CREATED", "RUNNING", "CANCELING"})

RUN_MUTATION = """
mutation BulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""
POLL_QUERY = """
query BulkOperation($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount rootObjectCount fileSize url partialDataUrl }
  }
}"""


@dataclass(frozen=True)
class BulkQuery:
    """A resource's bulk query and the nested connection whose lines carry ``__parentId``."""

    query: str
    child_field: str | None


class BulkUnavailable(Exception):
    """Shopify will not start another bulk query for this shop now (its concurrency limit)."""


class _Lines:
    """A JSONL download from ``offset``, read a line at a time, tracking the byte offset."""

    def __init__(self, download: HttpClient, url: str, offset: int) -> None:
        self.url = url
        headers = {"Range": f"bytes={offset}-", "Accept-Encoding": "identity"} if offset else {}
        self.response = download.request("GET", url, headers=headers, stream=True)
        # urllib3's response reads a line a byte at a time; a buffer reads it in large blocks (and
        # must see the end of the file as b"", not as a response that closed itself).
        self.response.raw.auto_close = False
        self.raw = io.BufferedReader(self.response.raw, buffer_size=1 << 20)
        self.offset = offset
        if offset and self.response.status_code != 206:  # the whole file came: skip what was read
            remaining = offset
            while remaining > 0:
                skipped = self.raw.read(min(remaining, 1 << 20))
                if not skipped:
                    break
                remaining -= len(skipped)
        self.peeked: tuple[int, bytes] | None = None

    @property
    def position(self) -> int:
        """Where the next line read starts."""
        return self.peeked[0] if self.peeked is not None else self.offset

    def next_line(self) -> tuple[int, bytes]:
        """(start offset, line); an empty line at the end of the file."""
        if self.peeked is not None:
            peeked, self.peeked = self.peeked, None
            return peeked
        start = self.offset
        line = self.raw.readline()
        self.offset += len(line)
        return start, line

    def close(self) -> None:
        self.response.close()


class BulkReader:
    """Runs one resource's bulk operation and reads its file in pages; kept by the adapter between
    pages, so that the download continues where the last page ended."""

    def __init__(
        self, *, graphql: Callable[..., dict[str, Any]], download: HttpClient, sleep: Callable[[float], None]
    ) -> None:
        self.graphql = graphql
        self.download = download
        self.sleep = sleep
        self.lines: _Lines | None = None

    # --- the operation -----------------------------------------------------------------------------------
    def start(self, bulk: BulkQuery) -> str:
        result = self.graphql(RUN_MUTATION, {"query": bulk.query})["data"]["bulkOperationRunQuery"]
        errors = result.get("userErrors") or []
        if errors:
            message = errors[0].get("message") or "refused"
            if "in progress" in message.lower():
                raise BulkUnavailable(message)
            raise PlatformError(f"Shopify refused the bulk query: {message}")
        return str(result["bulkOperation"]["id"])

    def wait(self, operation_id: str, budget_s: float = POLL_BUDGET_S) -> dict[str, Any]:
        """Poll until the operation ends or the budget is spent; its last known state."""
        began, polls = time.monotonic(), 0
        while True:
            node = self.graphql(POLL_QUERY, {"id": operation_id})["data"]["node"]
            if node is None:
                return {"status": "EXPIRED", "errorCode": "NOT_FOUND"}
            if node.get("status") not in RUNNING or time.monotonic() - began >= budget_s:
                return dict(node)
            self.sleep(POLL_S[min(polls, len(POLL_S) - 1)])
            polls += 1

    # --- the file --------------------------------------------------------------------------------------
    def read(
        self, bulk: BulkQuery, url: str, offset: int, roots: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``roots`` root objects from ``offset``, each with its nested connection as
        ``{"nodes": [...]}``; and the offset of the next root's line (``None``: the file ended)."""
        lines = self.lines
        if lines is None or lines.url != url or lines.position != offset:
            self.close()
            try:
                lines = self.lines = _Lines(self.download, url, offset)
            except PlatformError as exc:
                if exc.status in (403, 404, 410):
                    raise BulkExpired(str(exc), status=exc.status) from exc
                raise
        nodes: list[dict[str, Any]] = []
        by_id: dict[str, dict[str, Any]] = {}
        while True:
            start, line = lines.next_line()
            if not line:
                self.close()
                return nodes, None
            if not line.strip():
                continue
            obj = json.loads(line)
            parent = obj.pop("__parentId", None)
            if parent is None:
                if len(nodes) == roots:
                    lines.peeked = (start, line)
                    return nodes, start
                if bulk.child_field is not None:
                    obj[bulk.child_field] = {"nodes": []}
                nodes.append(obj)
                by_id[str(obj.get("id"))] = obj
                continue
            owner = by_id.get(str(parent))
            if owner is None or bulk.child_field is None:
                # Children follow their parent (the contract); one whose parent is in an earlier page
                # would make that page's list incomplete, so this is refused, not guessed.
                raise PlatformError(
                    f"Shopify bulk file: a child of {parent} came before it or after its page"
                )
            owner[bulk.child_field]["nodes"].append(obj)

    def close(self) -> None:
        if self.lines is not None:
            self.lines.close()
            self.lines = None


class BulkExpired(PlatformError):
    """The operation's file can no longer be downloaded (its URL expired): run a new one."""


def download_client(sleep: Callable[[float], None]) -> HttpClient:
    """Plain GETs of the signed file URL: the retry policy of every adapter, no credentials sent."""
    return HttpClient(base_url="", sleep=sleep, timeout_s=60.0, session=requests.Session())
