"""Checking and decoding product and query images.

Every image that enters Snapshelf (admin upload, import, API, storefront query) passes
``image_validate``: it must decode, be one of the accepted formats, and stay under the byte
and pixel caps (the pixel cap is the decompression-bomb guard, checked from the header
before any pixel is decoded). ``image_to_rgb`` gives the pixels the models see;
``query_photo_decode`` gives a shopper's photo the same way in one pass, at reduced size.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from catalog.conf import catalog_setting

ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageRejected(ValueError):
    """The bytes are not an image Snapshelf accepts; the message says why, for people."""


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    format: str
    width: int
    height: int
    sha256: str

    @property
    def extension(self) -> str:
        return ACCEPTED_FORMATS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def image_validate(data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None) -> ValidatedImage:
    """Check that ``data`` is an accepted image; return its facts or raise ImageRejected."""
    max_bytes = max_bytes or catalog_setting("IMAGE_MAX_BYTES")
    max_pixels = max_pixels or catalog_setting("IMAGE_MAX_PIXELS")
    if not data:
        raise ImageRejected("The file is empty.")
    if len(data) > max_bytes:
        raise ImageRejected(f"The file is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.1f} MB.")
    image = _open_checked(data, max_pixels)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"The image could not be decoded: {exc}") from exc
    oriented = ImageOps.exif_transpose(image) or image
    return ValidatedImage(
        data=data,
        format=image.format or "",
        width=oriented.width,
        height=oriented.height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def image_to_rgb(data: bytes, *, max_pixels: int | None = None) -> Image.Image:
    """Decode ``data`` to upright RGB pixels: EXIF orientation applied, the first frame of an
    animation, palette and CMYK converted, transparency flattened on white."""
    image = _open_checked(data, max_pixels or catalog_setting("IMAGE_MAX_PIXELS"))
    return _decode_upright_rgb(image)


def query_photo_decode(data: bytes, *, side: int, max_pixels: int | None = None) -> Image.Image:
    """A shopper's query photo, checked and decoded once, straight to what the model needs:
    refused as ``image_validate`` refuses (format, pixel cap read from the header before any
    pixel is decoded), a JPEG decoded at the smallest of 1/8, 1/4, 1/2 or full scale that keeps
    both sides at least ``side`` (libjpeg's DCT scaling: a 12 MP phone photo decodes at 1/8 of
    the work), then upright and RGB as ``image_to_rgb`` gives it. Other formats decode whole."""
    if not data:
        raise ImageRejected("The file is empty.")
    image = _open_checked(data, max_pixels or catalog_setting("IMAGE_MAX_PIXELS"))
    if image.format == "JPEG":
        image.draft("RGB", (side, side))
    return _decode_upright_rgb(image)


def _decode_upright_rgb(image: Image.Image) -> Image.Image:
    try:
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"The image could not be decoded: {exc}") from exc
    return flatten_to_rgb(image)


def flatten_to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels with any transparency composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns (then errors) on huge images; our own cap below gives the clear message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageRejected("The file is not an image (accepted: JPEG, PNG, WebP, GIF).") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"The image has too many pixels; the limit is {max_pixels:,} pixels.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"The image could not be read: {exc}") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{image.format} images are not accepted (accepted: JPEG, PNG, WebP, GIF).")
    if image.width * image.height > max_pixels:
        raise ImageRejected(f"The image is {image.width}x{image.height} pixels; the limit is {max_pixels:,} pixels.")
    return image
