"""Product image thumbnails: made once, by the indexing worker, and kept with the image.

The storefront's cards, the product page and the admin show thumbnails in the sizes of
``THUMBNAIL_SIZES``. The worker makes them from the pixels it decodes anyway to embed the image
(search.services.index_queue), or, for images whose vectors it copies and images stored before
thumbnails were kept, in the sweep (``thumbnails_make_missing``). Their storage names and sizes are
kept on ``ProductImage.thumbnails`` with the SHA-256 of the bytes they were made from
(``thumbnails_of``): a replaced image's old thumbnails are never shown. A request only reads them
(``image_thumbnail``); until they exist it shows the original image, scaled by the browser.

File names are made from the image's SHA-256, so two products with the same photo share the files
and making them again writes nothing new.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import F
from PIL import Image, ImageOps

from catalog.conf import catalog_setting
from catalog.image_intake import ImageRejected, product_image_rgb

if TYPE_CHECKING:
    from catalog.models import ProductImage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThumbnailSize:
    width: int
    height: int
    crop: bool  # True: fill the box, cropped to its centre; False: the whole image inside the box


# card: result and home page cards (and the admin's lists); detail: the product page's gallery.
THUMBNAIL_SIZES = {"card": ThumbnailSize(240, 240, crop=True), "detail": ThumbnailSize(480, 480, crop=False)}
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Thumbnail:
    url: str
    width: int
    height: int


def image_thumbnail(image: ProductImage, size: str) -> Thumbnail:
    """The stored thumbnail of ``image`` in ``size``; until the worker has made it, the original
    image with the width and height it takes inside the size's box (never made here)."""
    stored = image.thumbnails.get(size) if image.thumbnails_of == image.sha256 else None
    if stored:
        return Thumbnail(default_storage.url(stored["name"]), stored["width"], stored["height"])
    box = THUMBNAIL_SIZES[size]
    width, height = image.width or box.width, image.height or box.height
    scale = min(1.0, box.width / width, box.height / height)
    return Thumbnail(image.file.url, max(1, round(width * scale)), max(1, round(height * scale)))


def thumbnails_stale(image: ProductImage) -> bool:
    return image.thumbnails_of != image.sha256


def image_thumbnails_make(image: ProductImage, pixels: Image.Image | None = None) -> bool:
    """Make and store every size's thumbnail of ``image`` from ``pixels`` (its upright RGB pixels,
    catalog.image_intake.image_to_rgb), or from its stored bytes. Returns False when the bytes are
    gone or will not decode: the image then shows its original until its bytes change."""
    sha256 = image.sha256
    thumbnails: dict[str, dict[str, object]] = {}
    try:
        if pixels is None:
            pixels = product_image_rgb(image)
        for name, size in THUMBNAIL_SIZES.items():
            thumbnails[name] = _thumbnail_store(pixels, size, f"{_name_stem(sha256)}-{name}")
    except (ImageRejected, OSError) as exc:
        logger.warning("no thumbnails for product image %s (%s): %s", image.pk, image.file.name, exc)
        thumbnails = {}
    # Only if the image still holds the bytes the thumbnails were made from.
    type(image).objects.filter(pk=image.pk, sha256=sha256).update(thumbnails=thumbnails, thumbnails_of=sha256)
    image.thumbnails, image.thumbnails_of = thumbnails, sha256
    return bool(thumbnails)


def thumbnails_make_missing(*, limit: int) -> int:
    """Make the thumbnails of up to ``limit`` images that have none for their current bytes
    (the sweep: images stored before thumbnails were kept, vectors copied from identical bytes).
    Returns how many images it looked at."""
    from catalog.models import ProductImage

    images = list(ProductImage.objects.exclude(thumbnails_of=F("sha256")).order_by("pk")[:limit])
    for image in images:
        image_thumbnails_make(image)
    return len(images)


def _name_stem(sha256: str) -> str:
    return f"{catalog_setting('IMAGE_UPLOAD_TO')}/thumbnails/{sha256[:2]}/{sha256[:32]}"


def _thumbnail_store(pixels: Image.Image, size: ThumbnailSize, stem: str) -> dict[str, object]:
    picture = _fit(pixels, size)
    name = f"{stem}-{size.width}x{size.height}{'c' if size.crop else ''}.jpg"
    if not default_storage.exists(name):
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        name = default_storage.save(name, ContentFile(buffer.getvalue()))
    return {"name": name, "width": picture.width, "height": picture.height}


def _fit(pixels: Image.Image, size: ThumbnailSize) -> Image.Image:
    """Scaled down (never up) into the box: cropped to fill it, or whole inside it."""
    if not size.crop:
        picture = pixels.copy()
        picture.thumbnail((size.width, size.height), Image.Resampling.LANCZOS)
        return picture
    scale = min(1.0, max(size.width / pixels.width, size.height / pixels.height))
    box = (min(size.width, round(pixels.width * scale)), min(size.height, round(pixels.height * scale)))
    return ImageOps.fit(pixels, box, Image.Resampling.LANCZOS)
