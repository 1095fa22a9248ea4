"""OpenAPI details drf-spectacular cannot guess: how API keys are sent, and the error responses.
Its settings are storeapi.conf.SPECTACULAR_SETTINGS, merged into the project's SPECTACULAR_SETTINGS."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_STATUSES = {
    "400": "The request is invalid; details name the fields.",
    "401": "No API key (or a bad one, or a bad webhook signature).",
    "403": "The key may not do this (or not from this origin).",
    "404": "Not found.",
    "413": "The request body is larger than this operation reads.",
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


def request_bodies_optional_when_several_kinds(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """A body that comes in several content types (image uploads) is not marked required.

    openapi-python-client (0.29) writes ``body: A | B | Unset = UNSET`` for such a required body but
    does not import ``Unset``, so the generated module fails to import
    (github.com/openapi-generators/openapi-python-client/issues/1451, fix in PR #1478). The API
    still refuses a request without one (400, naming the fields); drop this hook once a fixed
    release is out (tests/storeapi/test_generated_client.py shows it)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody", {})
            if len(body.get("content", {})) > 1:
                body.pop("required", None)
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
