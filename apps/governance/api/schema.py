"""OpenAPI description of the API key scheme (``Authorization: Api-Key kiki_xxxxxxxx.…``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.governance.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key kiki_xxxxxxxx.…`: an integration's key, issued by an Admin, shown once.",
        }
