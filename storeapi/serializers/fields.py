from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


@extend_schema_field({"type": "object", "additionalProperties": True, "example": {"colour": "red"}})
class AttributesField(serializers.DictField):
    """A JSON object (or, in multipart forms, its JSON text). Postgres cannot store NUL characters."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, str):
            import json

            try:
                data = json.loads(data)
            except ValueError as exc:
                raise serializers.ValidationError("Give a JSON object.") from exc
        value = super().to_internal_value(data)
        if _contains_nul(value):
            raise serializers.ValidationError("Null characters are not allowed.")
        return value
