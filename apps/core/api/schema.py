"""The OpenAPI schema says every answer an operation can give, errors included.

Every error has one shape (``apps.core.api.errors``). Which errors an operation can answer follows
from how it is built, so they are derived here rather than listed on each view:

- 404 everywhere: an unknown host (no workspace) or an unknown object;
- 403 everywhere: a role without the permission, or a suspended workspace;
- 401 where the view authenticates (an invalid credential is refused even on open routes);
- 429 where the view is throttled (with ``Retry-After``);
- 400 where the request carries query parameters or a body;
- 409, 413 (body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``) and 415 (not JSON) where it carries a body.

Routes added later are described the same way without anyone listing them; the API fuzzing gate
(tests/gates) holds the server to it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. validation_error.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    details = serializers.DictField(
        help_text="Per-field messages for validation errors; other facts (retry_after_seconds) else."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    "400": "The request is invalid: `details` names each field and what is wrong with it.",
    "401": "No credential, or an invalid, expired or revoked one.",
    "403": "Your role lacks the permission, or the workspace is suspended.",
    "404": "No workspace at this address, or no such object in it.",
    "409": "The request conflicts with the current state (a duplicate, or work already in flight).",
    "413": "The request body is larger than the server accepts.",
    "415": "The request body is not JSON.",
    "429": "Too many requests: wait `Retry-After` seconds.",
}


def error_codes(*, method: str, authenticated: bool, throttled: bool, has_parameters: bool) -> list[str]:
    codes = ["403", "404"]
    if authenticated:
        codes.append("401")
    if throttled:
        codes.append("429")
    has_body = method in _BODY_METHODS
    if has_body or has_parameters:
        codes.append("400")
    if has_body:
        codes += ["409", "413", "415"]
    return sorted(codes)


class KikiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        codes = error_codes(
            method=self.method,
            authenticated=bool(getattr(self.view, "authentication_classes", None)),
            throttled=bool(getattr(self.view, "throttle_classes", None)),
            has_parameters=self._has_parameters(),
        )
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]), code
                )
        return responses

    def _get_response_headers_for_code(self, status_code: str, direction: Any = "response") -> dict[str, Any]:
        headers: dict[str, Any] = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "429":
            headers["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds until the rate-limit window resets.",
            }
        return headers

    def _has_parameters(self) -> bool:
        if self.method != "GET":
            return False
        return bool(self._get_filter_parameters() or self._get_pagination_parameters())


# --- links: what an integrator does next with what an answer returns -------------------------------
# Create → read it back is derived for every collection that has a detail route. Links between
# resources are declared here: (source method, source path, status, link name, target method, target
# path, link fields). They document the flows, and the fuzzing gate's stateful phase follows them.
CROSS_LINKS: list[tuple[str, str, str, str, str, str, dict[str, Any]]] = [
    (
        "post",
        "/api/v1/stores",
        "201",
        "UpsertOrdersToStore",
        "post",
        "/api/v1/orders",
        {"requestBody": {"store": "$response.body#/id"}},
    ),
    (
        "post",
        "/api/v1/orders",
        "200",
        "CustomersOfStore",
        "get",
        "/api/v1/customers",
        {"parameters": {"query.store": "$response.body#/store"}},
    ),
    (
        "post",
        "/api/v1/orders",
        "200",
        "OrdersOfStore",
        "get",
        "/api/v1/orders",
        {"parameters": {"query.store": "$response.body#/store"}},
    ),
    (
        "post",
        "/api/v1/ltv/models/train",
        "202",
        "GetTrainingRun",
        "get",
        "/api/v1/ltv/runs/{id}",
        {"parameters": {"path.id": "$response.body#/id"}},
    ),
    (
        "post",
        "/api/v1/api-keys",
        "201",
        "RevokeCreatedKey",
        "post",
        "/api/v1/api-keys/{id}/revoke",
        {"parameters": {"path.id": "$response.body#/id"}},
    ),
]


def add_links(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing hook: OpenAPI links (derived create → detail, plus CROSS_LINKS)."""
    paths: dict[str, dict[str, Any]] = result.get("paths", {})

    def add(source: dict[str, Any], status: str, name: str, target: dict[str, Any], fields: dict) -> None:
        response = source.get("responses", {}).get(status)
        if response is None or "operationId" not in target:
            return
        response.setdefault("links", {})[name] = {"operationId": target["operationId"], **fields}

    components = result.get("components", {}).get("schemas", {})

    def returns_id(operation: dict[str, Any], status: str) -> bool:
        content = operation["responses"][status].get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        return "id" in components.get(ref.rpartition("/")[2], {}).get("properties", {})

    for path, operations in paths.items():
        create = operations.get("post")
        detail_path = f"{path}/{{id}}"
        if create is None or detail_path not in paths:
            continue
        status = next((code for code in ("201", "202", "200") if code in create.get("responses", {})), None)
        if status is None or not returns_id(create, status):
            continue
        for method, target in paths[detail_path].items():
            if method in {"get", "patch", "put", "delete"}:
                name = f"{method.title()}Created"
                add(create, status, name, target, {"parameters": {"path.id": "$response.body#/id"}})
    for method, path, status, name, target_method, target_path, fields in CROSS_LINKS:
        source = paths.get(path, {}).get(method)
        target = paths.get(target_path, {}).get(target_method)
        if source is not None and target is not None:
            add(source, status, name, target, fields)
    return result
