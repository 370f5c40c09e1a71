"""How drf-spectacular documents the API's own pieces. Imported by the API's urls (drf-spectacular's advice:
an extension module must not be imported by the authentication module itself, which DRF loads early)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "requests.api.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer", "description": "A personal API token from the portal."}
