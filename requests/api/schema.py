"""How drf-spectacular documents the API's own pieces. Imported by the API's urls (drf-spectacular's advice:
an extension module must not be imported by the authentication module itself, which DRF loads early)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "requests.api.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer", "description": "A personal API token from the portal."}


# Where a response leads: the request it returns, by its id (OpenAPI links; schemathesis follows them in
# its stateful phase, so that it files a request and then reads, claims and decides that very one).
FOLLOW_UPS = (
    "requests_retrieve",
    "requests_claim",
    "requests_release",
    "requests_decide",
    "requests_ask",
    "requests_answer",
)
LINKED = {
    "requests_file": ("201", "200"),
    "requests_claim": ("200",),
    "requests_release": ("200",),
    "requests_ask": ("200",),
    "requests_answer": ("200",),
}


def add_links(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: add the links of LINKED responses to FOLLOW_UPS."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            codes = LINKED.get(operation.get("operationId"), ())
            for code in codes:
                response = operation.get("responses", {}).get(code)
                if response is None:
                    continue
                response["links"] = {
                    follow_up: {"operationId": follow_up, "parameters": {"id": "$response.body#/id"}}
                    for follow_up in FOLLOW_UPS
                }
    return result
