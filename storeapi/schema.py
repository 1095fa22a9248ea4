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
}


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
