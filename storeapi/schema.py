"""OpenAPI details drf-spectacular cannot guess: how API keys are sent."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

SCHEMA_SETTINGS = {
    "TITLE": "Snapshelf API",
    "DESCRIPTION": (
        "Catalog sync, visual and text search, and platform webhooks. Send an API key as "
        "`Authorization: Bearer <key>` or `X-Api-Key: <key>`. Public keys may search; read keys also read "
        'the catalog; write keys also change it. Errors are `{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "storeapi.schema.error_responses_add",
    ],
}

ERROR_STATUSES = {
    "400": "The request is invalid; details name the fields.",
    "401": "No API key (or a bad one, or a bad webhook signature).",
    "403": "The key may not do this (or not from this origin).",
    "404": "Not found.",
    "415": "Unsupported content type.",
    "429": "Too many requests for this key; see Retry-After.",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "example": "validation_error"},
                "message": {"type": "string"},
                "details": {"nullable": True, "description": "Field errors, or other facts about the error."},
            },
        }
    },
}


def error_responses_add(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every operation can answer these errors, all in the one error shape."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in {**ERROR_STATUSES, **_declared_errors(responses)}.items():
                responses[code] = {
                    "description": responses.get(code, {}).get("description", description),
                    "content": content,
                }
    return result


def _declared_errors(responses: dict[str, Any]) -> dict[str, str]:
    return {code: response.get("description", "") for code, response in responses.items() if code.startswith("4")}


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "storeapi.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "description": "An API key (or send it as X-Api-Key)."}


class StaffSessionScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "storeapi.authentication.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "The admin's session (staff)."}
