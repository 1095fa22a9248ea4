"""What every API view shares, set on the views so that the project's REST_FRAMEWORK settings
cannot change the API's auth, errors or rendering."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from storeapi.authentication import ApiKeyAuthentication, StaffSessionAuthentication
from storeapi.errors import api_exception_handler
from storeapi.permissions import HasScope
from storeapi.throttling import ApiKeyRateThrottle


class ApiViewMixin:
    authentication_classes = [ApiKeyAuthentication, StaffSessionAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes: list[type] = [JSONParser]
    renderer_classes = [JSONRenderer]
    schema = AutoSchema()
    required_scope = "write"
    read_scope: str | None = "read"

    def get_exception_handler(self) -> Callable[..., Any]:
        return api_exception_handler


# Photos and image files come as multipart forms (or base64 in JSON); everything else is JSON.
JSON_OR_MULTIPART = [JSONParser, MultiPartParser]


class ApiView(ApiViewMixin, APIView):
    pass


class ApiGenericView(ApiViewMixin, GenericAPIView):  # type: ignore[type-arg]
    pass
