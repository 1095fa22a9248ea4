"""The catalog app's settings, each overridable as ``SNAPSHELF_<NAME>`` in the project settings."""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Largest accepted image file, in bytes.
    "IMAGE_MAX_BYTES": 20 * 1024 * 1024,
    # Largest accepted image, in pixels (width x height): the decompression-bomb guard.
    "IMAGE_MAX_PIXELS": 40_000_000,
    # Fetching image URLs: timeout in seconds, and whether private/loopback/link-local hosts are allowed.
    "IMAGE_URL_TIMEOUT": 10.0,
    "IMAGE_URL_ALLOW_PRIVATE": False,
    "IMAGE_URL_MAX_REDIRECTS": 3,
    # Currency of imported products that name none.
    "DEFAULT_CURRENCY": "EUR",
    # Where uploaded product images go in the default storage.
    "IMAGE_UPLOAD_TO": "products",
    # Seconds a process keeps its copy of the category tree before asking the cache whether a
    # category changed in another process (changes made in this process show at once). 0: ask
    # on every read.
    "CATEGORY_TREE_RECHECK_SECONDS": 1.0,
}


def catalog_setting(name: str) -> Any:
    return getattr(settings, f"SNAPSHELF_{name}", DEFAULTS[name])
