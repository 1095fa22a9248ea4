"""What every API view shares, set on the views so that the project's REST_FRAMEWORK settings
cannot change the API's auth, errors or rendering."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import BaseAuthentication
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from storeapi.authentication import ApiKeyAuthentication, StaffSessionAuthentication
from storeapi.errors import api_exception_handler
from storeapi.permissions import HasScope
from storeapi.throttling import ApiKeyRateThrottle


class ApiViewMixin:
    authentication_classes: Sequence[type[BaseAuthentication]] = [ApiKeyAuthentication, StaffSessionAuthentication]
    permission_classes: Sequence[Any] = [HasScope]
    throttle_classes: Sequence[type[BaseThrottle]] = [ApiKeyRateThrottle]
    parser_classes: Sequence[type[BaseParser]] = [JSONParser]
    renderer_classes: Sequence[type[BaseRenderer]] = [JSONRenderer]
    schema: ViewInspector | None = AutoSchema()
    required_scope = "write"
    read_scope: str | None = "read"

    def get_exception_handler(self) -> Callable[..., Any]:
        return api_exception_handler


# Photos and image files come as multipart forms (or base64 in JSON); everything else is JSON.
JSON_OR_MULTIPART: Sequence[type[BaseParser]] = [JSONParser, MultiPartParser]


class ApiView(ApiViewMixin, APIView):
    pass


class ApiGenericView(ApiViewMixin, GenericAPIView):  # type: ignore[type-arg]
    pass
