"""The catalog app's settings, each overridable as ``SNAPSHELF_<NAME>`` in the project settings,
and the settings helper every Snapshelf app uses (``AppSettings``)."""

from typing import Any

from django.conf import settings


class AppSettings:
    """An app's settings: ``SNAPSHELF_<NAME>`` from the project's settings, else the app's default.

    One per app (``catalog_setting``, ``search.conf.search_setting``, ``storeapi.conf.api_setting``),
    each with its own defaults, so an app installed without the others knows its own settings. Read
    on every call, so ``override_settings`` in tests and settings changed at startup both apply."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults

    def __call__(self, name: str) -> Any:
        return getattr(settings, f"SNAPSHELF_{name}", self.defaults[name])


DEFAULTS: dict[str, Any] = {
    # Largest accepted image file, in bytes.
    "IMAGE_MAX_BYTES": 20 * 1024 * 1024,
    # Largest accepted image, in pixels (width x height): the decompression-bomb guard.
    "IMAGE_MAX_PIXELS": 40_000_000,
    # Fetching image URLs: timeout in seconds, and whether private/loopback/link-local hosts are allowed.
    "IMAGE_URL_TIMEOUT": 10.0,
    "IMAGE_URL_ALLOW_PRIVATE": False,
    "IMAGE_URL_MAX_REDIRECTS": 3,
    # The whole fetch of one image URL (connecting, redirects, the body), in seconds.
    "IMAGE_URL_DEADLINE": 30.0,
    # Ports image URLs may use; empty: any.
    "IMAGE_URL_PORTS": [80, 443],
    # Currency of imported products that name none.
    "DEFAULT_CURRENCY": "EUR",
    # Where uploaded product images go in the default storage.
    "IMAGE_UPLOAD_TO": "products",
}

catalog_setting = AppSettings(DEFAULTS)
