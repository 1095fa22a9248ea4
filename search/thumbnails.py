"""Product thumbnails for the storefront: sorl-thumbnail's answer, remembered in this process.

Even with its key/value store in memory, sorl spends ~0.3 ms per thumbnail on every render
(serialising the source, hashing a key, unpickling the cached record, building ImageFile objects):
~8 ms for a page of 24 cards. Here each answer (url, width, height) is kept in a dict keyed by the
source's storage and name, the geometry and the options.

Why a remembered answer stays right: a product image's file name is made from its bytes
(catalog.models.product_image_upload_to and catalog.services save it as
``<IMAGE_UPLOAD_TO>/<sha256[:2]>/<sha256[:32]>.<ext>``, and the admin form renames uploads the same
way), so replacing an image gives it a new name and a new key, and a name never comes to mean other
bytes. sorl names the thumbnail from the same key. What can still go stale is a thumbnail deleted
behind sorl's back (``manage.py thumbnail clear_delete_all``); entries therefore live
THUMBNAIL_CACHE_TIMEOUT seconds, the same bound sorl's own in-process cache (settings
THUMBNAIL_CACHE) already puts on that. Changing MEDIA_*, STORAGES or THUMBNAIL_* settings (tests)
forgets everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.files import File
from django.core.signals import setting_changed
from django.dispatch import receiver
from sorl.thumbnail import get_thumbnail
from sorl.thumbnail.conf import settings as sorl_settings
from sorl.thumbnail.images import DummyImageFile

from catalog.memo import ExpiringMemo

logger = logging.getLogger(__name__)

# A page shows 24 cards; the catalog's images times a few geometries stay well below this.
MEMO_MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class Thumbnail:
    url: str
    width: int
    height: int


_memo: ExpiringMemo[tuple[Any, ...], Thumbnail] = ExpiringMemo(max_entries=MEMO_MAX_ENTRIES)


def thumbnail_get(source: File, geometry: str, **options: Any) -> Thumbnail | None:
    """sorl's thumbnail of ``source`` (remembered, see the module docstring); None when there is
    no file or sorl fails (logged; raised when THUMBNAIL_DEBUG is on, as sorl's own tag does)."""
    if not source:
        return None
    storage = getattr(source, "storage", None)
    where = (type(storage).__qualname__, getattr(storage, "location", ""))
    key = (*where, source.name, geometry, *sorted(options.items()))
    remembered = _memo.get(key)
    if remembered is not None:
        return remembered
    try:
        image = get_thumbnail(source, geometry, **options)
        thumbnail = Thumbnail(url=image.url, width=image.width, height=image.height)
    except Exception:
        if sorl_settings.THUMBNAIL_DEBUG:
            raise
        logger.exception("Thumbnail of %s (%s) failed", source.name, geometry)
        return None
    if isinstance(image, DummyImageFile):  # a stand-in (THUMBNAIL_DUMMY): ask sorl again next time
        return thumbnail
    _memo.set(key, thumbnail, sorl_settings.THUMBNAIL_CACHE_TIMEOUT)
    return thumbnail


def thumbnail_memo_clear() -> None:
    _memo.clear()


@receiver(setting_changed, dispatch_uid="search_thumbnail_memo_settings")
def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting.startswith(("MEDIA_", "STORAGES", "THUMBNAIL_")):
        thumbnail_memo_clear()
