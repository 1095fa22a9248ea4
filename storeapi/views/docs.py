from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 document of the API (public: it describes, it grants nothing).

    No settings of its own: the project's SPECTACULAR_SETTINGS (with storeapi.conf's merged in) make
    this document and `manage.py spectacular`'s the same one."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []


class DocsView(SpectacularSwaggerView):
    """Swagger UI; its assets come from drf-spectacular-sidecar when SPECTACULAR_SETTINGS says SIDECAR."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
