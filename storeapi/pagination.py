"""Cursor pagination in ``updated_at`` order: a client syncs forward from its last page's cursor."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from storeapi.conf import api_setting


class UpdatedAtCursorPagination(CursorPagination):
    ordering: tuple[str, ...] = ("updated_at", "id")
    page_size_query_param = "limit"
    cursor_query_description = "The `next` cursor of the previous page."
    page_size_query_description = "Items per page."

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return int(api_setting("API_PAGE_SIZE"))
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError({"limit": [f"Give a whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    @property
    def max_page_size(self) -> int:  # type: ignore[override]
        return int(api_setting("API_MAX_PAGE_SIZE"))

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            # DRF answers 404 for a bad cursor; it is a bad parameter.
            raise exceptions.ValidationError({"cursor": ["This cursor is not valid."]}) from exc

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters


class IdCursorPagination(UpdatedAtCursorPagination):
    ordering = ("id",)
