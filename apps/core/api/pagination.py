"""Every list is paginated: ``?page=N&page_size=M`` (1 ≤ N ≤ 1,000,000, 1 ≤ M ≤ 500).

Values the schema does not allow are refused with 400 naming the parameter, instead of being
quietly replaced by a default: a client that asks for 1,000 rows learns it gets at most 500. A page
past the last one is 404.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

WHOLE_NUMBER = re.compile(r"[0-9]{1,19}")
ID_MAX = 2**63 - 1  # PostgreSQL bigint: every id is below it
PAGE_MAX = 1_000_000


def positive_int_param(request: Request, name: str, *, maximum: int = ID_MAX) -> int | None:
    """``?name=`` as a whole number in [1, maximum]; None when absent; anything else (an empty value
    included) is 400 naming the parameter. The schema says the same: ``int_param_schema``."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = int(raw) if WHOLE_NUMBER.fullmatch(raw) else 0
    if not 1 <= value <= maximum:
        raise ValidationError({name: [f"A whole number from 1 to {maximum}."]})
    return value


def int_param_schema(*, maximum: int = ID_MAX) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": maximum}


class KikiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_number(self, request: Request, paginator: Any) -> int:
        return positive_int_param(request, self.page_query_param, maximum=PAGE_MAX) or 1

    def get_page_size(self, request: Request) -> int:
        size = positive_int_param(request, self.page_size_query_param, maximum=self.max_page_size)
        return size or self.page_size

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, from 1; a page past the last is 404.",
                "schema": int_param_schema(maximum=PAGE_MAX),
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.page_size}, at most {self.max_page_size}).",
                "schema": int_param_schema(maximum=self.max_page_size),
            },
        ]
