from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html


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


class StrictCharField(serializers.CharField):
    """Text must be a JSON string: DRF would also take 12 or 1.5 and quietly make text of them."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {"oneOf": [{"type": "string", "pattern": r"^\d{1,10}(\.\d{1,2})?$"}, {"type": "number", "minimum": 0}]}
)
class PriceField(serializers.DecimalField):
    """A price as a decimal string ("19.90") or a JSON number (19.9)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=2, min_value=0, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryParamsSerializer(serializers.Serializer):
    """Query parameters: one given empty (``?updated_after=``) is an error, not an absent filter."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if hasattr(data, "get"):
            blank = {str(name): ["This may not be blank."] for name in self.fields if data.get(name, None) == ""}
            if blank:
                raise serializers.ValidationError(blank)
        return super().run_validation(data)


def _from_form(field: serializers.Field) -> bool:
    """Form fields are all text; JSON has types, and a JSON body must use the right ones."""
    return html.is_html_input(getattr(field.root, "initial_data", None))


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool) and not _from_form(self):
            self.fail("invalid", input=data)
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if (isinstance(data, bool) or not isinstance(data, int)) and not _from_form(self):
            self.fail("invalid")
        return super().to_internal_value(data)
