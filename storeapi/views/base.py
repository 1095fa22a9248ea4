"""What every API view shares, set on the views so that the project's REST_FRAMEWORK settings
cannot change the API's auth, errors or rendering."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from rest_framework.authentication import BaseAuthentication
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from search.request_guards import content_length
from storeapi.authentication import ApiKeyAuthentication, StaffSessionAuthentication
from storeapi.errors import RequestTooLarge, api_exception_handler
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

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before anything reads the body (a staff session's CSRF check reads the form): DRF's
        # parsers read JSON and multipart bodies of any size, so the declared size is checked here.
        limit = self.body_limit()
        if content_length(request) > limit:
            raise RequestTooLarge(f"The request body is larger than the limit of {limit:,} bytes.")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def body_limit(self) -> int:
        """The largest body this view reads, in bytes."""
        return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**62)


# Photos and image files come as multipart forms (or base64 in JSON); everything else is JSON.
JSON_OR_MULTIPART: Sequence[type[BaseParser]] = [JSONParser, MultiPartParser]
# Room for a request's other fields and multipart's boundaries beside an image.
FORM_OVERHEAD_BYTES = 64 * 1024


class ApiView(ApiViewMixin, APIView):
    pass


class ApiGenericView(ApiViewMixin, GenericAPIView):  # type: ignore[type-arg]
    pass
