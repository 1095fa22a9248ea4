from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("storeapi.urls")),
    path("", include("search.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# JSON errors under /api/, the usual pages elsewhere.
handler400 = "storeapi.errors.handler400"
handler403 = "storeapi.errors.handler403"
handler404 = "storeapi.errors.handler404"
handler500 = "storeapi.errors.handler500"
