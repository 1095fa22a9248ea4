from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from storeapi.schema import SCHEMA_SETTINGS


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document of the API (public: it describes, it grants nothing)."""

    custom_settings = SCHEMA_SETTINGS
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []


class DocsView(SpectacularSwaggerView):
    """Swagger UI; its assets come from drf-spectacular-sidecar when SPECTACULAR_SETTINGS says SIDECAR."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
