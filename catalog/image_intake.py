"""Checking and decoding product and query images.

Every image that enters Snapshelf is opened here, and only by Pillow's decoders for the accepted
formats (``formats=``: a file Pillow could read as something else, a TGA or a PSD, is refused
before any other decoder sees it). Product images (admin upload, import, API) pass
``image_validate``: they must decode and stay under the byte and pixel caps (the pixel cap is the
decompression-bomb guard, checked from the header before any pixel is decoded), and what is stored
is the image without its metadata (EXIF with GPS, XMP, IPTC, comments, PNG text), orientation
applied first. ``image_to_rgb`` gives the pixels the models see; shoppers' query photos pass
``query_photo_decode``: their own, smaller caps (the callers' settings), and one pass, at reduced
size in the decoder where the format allows (JPEG).
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps, UnidentifiedImageError

from catalog.conf import catalog_setting

if TYPE_CHECKING:
    from catalog.models import ProductImage

logger = logging.getLogger(__name__)

ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
OPEN_FORMATS = tuple(ACCEPTED_FORMATS)
# What Pillow reads into Image.info that can say who took a photo and where: EXIF (GPS, camera
# serial), XMP, IPTC (Photoshop's block) and comments. The ICC profile stays: colours need it.
METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "photoshop", "comment", "iptc")
# JPEG segments that carry no personal data: JFIF, the ICC profile, Adobe's colour transform.
HARMLESS_JPEG_SEGMENTS = {"APP0", "APP2", "APP14"}
ORIENTATION = 0x0112
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class ImageRejected(ValueError):
    """The bytes are not an image Snapshelf accepts; the message says why, for people."""


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes  # the bytes to store: metadata stripped (unchanged when there was none)
    format: str
    width: int
    height: int
    sha256: str  # of ``data``
    source_sha256: str = ""  # of the bytes given, when stripping changed them

    @property
    def extension(self) -> str:
        return ACCEPTED_FORMATS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def image_validate(data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None) -> ValidatedImage:
    """Check that ``data`` is an accepted image; return its facts and the bytes to store (without
    metadata, upright), or raise ImageRejected."""
    _bytes_check(data, max_bytes or catalog_setting("IMAGE_MAX_BYTES"))
    image = _open_checked(data, max_pixels or catalog_setting("IMAGE_MAX_PIXELS"))
    try:
        image.load()
        _frames_check(image, max_pixels or catalog_setting("IMAGE_MAX_PIXELS"))
        stored = image_metadata_strip(image, trailing=_has_trailing_data(data, image.format)) or data
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"The image could not be decoded: {exc}") from exc
    width, height = image.size
    if stored is not data:
        with Image.open(io.BytesIO(stored), formats=OPEN_FORMATS) as rewritten:
            width, height = rewritten.size
    sha256 = hashlib.sha256(stored).hexdigest()
    return ValidatedImage(
        data=stored,
        format=image.format or "",
        width=width,
        height=height,
        sha256=sha256,
        source_sha256="" if stored is data else hashlib.sha256(data).hexdigest(),
    )


def image_metadata_strip(image: Image.Image, *, trailing: bool = False) -> bytes | None:
    """``image`` (opened from bytes and loaded) saved again in its format without metadata, its
    EXIF orientation applied to the pixels; None when it carries nothing to strip. ``trailing``:
    the bytes go on after the image ends (a polyglot: a ZIP or a page behind a PNG), which goes too."""
    orientation = image.getexif().get(ORIENTATION, 1)
    if orientation == 1 and not trailing and not _has_metadata(image):
        return None
    params: dict[str, Any] = {}
    if image.info.get("icc_profile"):
        params["icc_profile"] = image.info["icc_profile"]
    frames = getattr(image, "n_frames", 1)
    if frames > 1:  # animations keep their frames; orientation tags on them are unheard of
        params.update(save_all=True, loop=image.info.get("loop", 0), duration=image.info.get("duration"))
        image.seek(0)
        out = image
    else:
        out = ImageOps.exif_transpose(image) if orientation != 1 else image
    for key in METADATA_KEYS:  # encoders write some of them back from info (JPEG and GIF comments)
        out.info.pop(key, None)
    if image.format == "JPEG" and out is image:
        # The source's quantisation tables when the pixels did not move: no second loss.
        params.update(quality="keep", subsampling="keep")
    elif image.format in ("JPEG", "WEBP"):
        params["quality"] = 95
    buffer = io.BytesIO()
    out.save(buffer, format=image.format, **params)
    return buffer.getvalue()


def _has_metadata(image: Image.Image) -> bool:
    if any(image.info.get(key) for key in METADATA_KEYS):
        return True
    if image.format == "PNG" and getattr(image, "text", None):
        return True
    segments = {marker for marker, _ in getattr(image, "applist", [])}
    return bool(segments - HARMLESS_JPEG_SEGMENTS)


def _has_trailing_data(data: bytes, image_format: str | None) -> bool:
    """Bytes after the image's own end marker (zero padding aside)."""
    data = data.rstrip(b"\0")
    if image_format == "PNG":
        return not data.endswith(b"IEND\xaeB`\x82")
    if image_format == "JPEG":
        return not data.endswith(b"\xff\xd9")
    if image_format == "GIF":
        return not data.endswith(b";")
    if image_format == "WEBP":
        return int.from_bytes(data[4:8], "little") + 8 < len(data)
    return False


def _frames_check(image: Image.Image, max_pixels: int) -> None:
    # Stripping an animation decodes every frame: the pixel cap counts them all.
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and frames * image.width * image.height > max_pixels:
        raise ImageRejected(
            f"The animation has {frames} frames of {image.width}x{image.height} pixels; the limit is "
            f"{max_pixels:,} pixels in all."
        )


def _bytes_check(data: bytes, max_bytes: int) -> None:
    if not data:
        raise ImageRejected("The file is empty.")
    if len(data) > max_bytes:
        raise ImageRejected(f"The file is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.1f} MB.")


def image_to_rgb(data: bytes, *, max_pixels: int | None = None) -> Image.Image:
    """Decode ``data`` to upright RGB pixels: EXIF orientation applied, the first frame of an
    animation, palette and CMYK converted, transparency flattened on white."""
    image = _open_checked(data, max_pixels or catalog_setting("IMAGE_MAX_PIXELS"))
    return _decode_upright_rgb(image)


def product_image_rgb(image: ProductImage) -> Image.Image:
    """The upright RGB pixels of a stored product image (``image_to_rgb`` of its file's bytes).
    Raises ImageRejected when the bytes do not decode, OSError when the file is gone."""
    with image.file.open("rb") as handle:
        return image_to_rgb(handle.read())


def product_image_rgb_or_none(image: ProductImage | None, *, purpose: str) -> Image.Image | None:
    """``product_image_rgb``, or None when there is no image or file or it will not decode (for
    work that samples photos and can do without one: logged as ``purpose`` skipping it)."""
    if image is None or not image.file:
        return None
    try:
        return product_image_rgb(image)
    except (OSError, ImageRejected) as exc:
        logger.warning("%s skips image %s: %s", purpose, image.pk, exc)
        return None


def query_photo_decode(
    data: bytes, *, side: int, max_pixels: int | None = None, max_bytes: int | None = None
) -> Image.Image:
    """A shopper's query photo, checked and decoded once, straight to what the model needs:
    refused as ``image_validate`` refuses (format, pixel cap read from the header before any
    pixel is decoded), a JPEG decoded at the smallest of 1/8, 1/4, 1/2 or full scale that keeps
    both sides at least ``side`` (libjpeg's DCT scaling: a 12 MP phone photo decodes at 1/8 of
    the work), then upright and RGB as ``image_to_rgb`` gives it. Other formats decode whole."""
    _bytes_check(data, max_bytes or catalog_setting("IMAGE_MAX_BYTES"))
    image = _open_checked(data, max_pixels or catalog_setting("IMAGE_MAX_PIXELS"))
    if image.format == "JPEG":
        image.draft("RGB", (side, side))
    return _decode_upright_rgb(image)


def _decode_upright_rgb(image: Image.Image) -> Image.Image:
    try:
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
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
            image = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageRejected("The file is not an image in an accepted format (JPEG, PNG, WebP or GIF).") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"The image has too many pixels; the limit is {max_pixels:,} pixels.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"The image could not be read: {exc}") from exc
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{image.format} images are not accepted (accepted: JPEG, PNG, WebP, GIF).")
    if image.width * image.height > max_pixels:
        raise ImageRejected(f"The image is {image.width}x{image.height} pixels; the limit is {max_pixels:,} pixels.")
    return image
