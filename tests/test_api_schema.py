"""The OpenAPI schema states every answer: error responses derived per operation, links declared
for the flows. The fuzzing gate (tests/gates) holds the server to it; this checks the document."""

from __future__ import annotations

from apps.core.api.schema import CROSS_LINKS, error_codes
from conftest import api_client_for

METHODS = {"get", "post", "put", "patch", "delete"}


def _schema(tenants):
    response = api_client_for(tenants.a.host).get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_its_errors_in_the_error_shape(tenants):
    schema = _schema(tenants)
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    count = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            count += 1
            codes = set(operation["responses"])
            assert {"403", "404"} <= codes, (method, path)
            assert any(c.startswith("2") for c in codes), (method, path)
            if method in {"post", "put", "patch"}:
                assert {"400", "409", "413", "415"} <= codes, (method, path)
            for code in codes - {c for c in codes if c.startswith("2")}:
                body = operation["responses"][code]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/Error"}, (method, path, code)
            if "429" in codes:
                assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert count >= 34


def test_error_codes_follow_how_the_operation_is_built():
    assert error_codes(method="GET", authenticated=True, throttled=True, has_parameters=False) == [
        "401",
        "403",
        "404",
        "429",
    ]
    assert error_codes(method="GET", authenticated=False, throttled=False, has_parameters=True) == [
        "400",
        "403",
        "404",
    ]
    assert error_codes(method="PATCH", authenticated=True, throttled=False, has_parameters=False) == [
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
    ]


def test_declared_links_exist_in_the_schema_and_creates_link_to_their_details(tenants):
    paths = _schema(tenants)["paths"]
    for method, path, status, name, target_method, target_path, _ in CROSS_LINKS:
        link = paths[path][method]["responses"][status]["links"][name]
        assert link["operationId"] == paths[target_path][target_method]["operationId"], name
    created = paths["/api/v1/stores"]["post"]["responses"]["201"]["links"]["GetCreated"]
    assert created == {
        "operationId": paths["/api/v1/stores/{id}"]["get"]["operationId"],
        "parameters": {"path.id": "$response.body#/id"},
    }
    # The bulk upsert answers counts, not an object with an id: no link to a detail.
    assert "GetCreated" not in paths["/api/v1/orders"]["post"]["responses"]["200"].get("links", {})
