import re

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("storeapi.urls")),
    path("", include("search.urls")),
]


def media_serve(request: HttpRequest, path: str) -> HttpResponseBase:
    # MEDIA_ROOT is read per request: tests point it at a fresh folder per test.
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))


if settings.SERVE_MEDIA and settings.MEDIA_URL.startswith("/"):
    # Django serving uploads is for `make run` and tests; behind a web server, let it serve them.
    urlpatterns += [re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.*)$", media_serve)]

# JSON errors under /api/, the usual pages elsewhere.
handler400 = "storeapi.errors.handler400"
handler403 = "storeapi.errors.handler403"
handler404 = "storeapi.errors.handler404"
handler500 = "storeapi.errors.handler500"
