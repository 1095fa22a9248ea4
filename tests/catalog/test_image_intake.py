import hashlib
import io

import pytest
from PIL import Image

from catalog.image_intake import (
    ImageRejected,
    image_to_rgb,
    image_validate,
    product_image_rgb,
    product_image_rgb_or_none,
    query_photo_decode,
)
from tests.sample_images import image_bytes


@pytest.mark.parametrize(("fmt", "extension"), [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif")])
def test_accepted_formats(fmt, extension):
    validated = image_validate(image_bytes(fmt=fmt, size=(30, 20)))
    assert (validated.format, validated.extension) == (fmt, extension)
    assert (validated.width, validated.height) == (30, 20)
    assert len(validated.sha256) == 64


def test_rejects_bytes_that_are_not_an_image():
    with pytest.raises(ImageRejected, match="not an image"):
        image_validate(b"%PDF-1.4 this is a document")


def test_rejects_empty_file():
    with pytest.raises(ImageRejected, match="empty"):
        image_validate(b"")


def test_rejects_truncated_image():
    data = image_bytes(fmt="JPEG", size=(200, 200))
    with pytest.raises(ImageRejected, match="decoded"):
        image_validate(data[: len(data) // 2])


def test_rejects_unaccepted_format_without_running_its_decoder(monkeypatch):
    # Only the accepted formats' decoders see untrusted bytes (Image.open(formats=...)): a bug in
    # the BMP, TGA or PSD readers cannot be reached through an upload.
    from PIL import BmpImagePlugin

    opened = []
    original = BmpImagePlugin.BmpImageFile._open
    monkeypatch.setattr(BmpImagePlugin.BmpImageFile, "_open", lambda self: opened.append(1) or original(self))
    with pytest.raises(ImageRejected, match="not an image in an accepted format"):
        image_validate(image_bytes(fmt="BMP"))
    assert opened == []


def test_byte_cap(settings):
    settings.SNAPSHELF_IMAGE_MAX_BYTES = 100
    with pytest.raises(ImageRejected, match="limit"):
        image_validate(image_bytes(size=(200, 200), fmt="BMP"))


def test_pixel_cap_is_checked_before_decoding(settings):
    settings.SNAPSHELF_IMAGE_MAX_PIXELS = 10_000
    with pytest.raises(ImageRejected, match="101x100 pixels"):
        image_validate(image_bytes(size=(101, 100)))


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    data = buffer.getvalue()
    assert (image_validate(data).width, image_validate(data).height) == (20, 40)
    assert image_to_rgb(data).size == (20, 40)


def test_cmyk_and_palette_become_rgb():
    assert image_to_rgb(image_bytes(fmt="JPEG", mode="CMYK")).mode == "RGB"
    assert image_to_rgb(image_bytes(fmt="PNG", mode="P")).mode == "RGB"


def test_transparency_is_flattened_on_white():
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert image_to_rgb(buffer.getvalue()).getpixel((5, 5)) == (255, 255, 255)


def test_gif_uses_first_frame():
    frames = [Image.new("RGB", (10, 10), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    red, _green, blue = image_to_rgb(buffer.getvalue()).getpixel((5, 5))
    assert red > 200 and blue < 50


def _jpeg(size: tuple[int, int], *, orientation: int = 0) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def test_a_query_photo_jpeg_is_decoded_at_the_smallest_scale_that_keeps_the_side():
    # 2000x1500 at 1/8 would be 250x188 (one side under 224): 1/4 is the smallest that keeps both.
    image = query_photo_decode(_jpeg((2000, 1500)), side=224)
    assert image.mode == "RGB" and image.size == (500, 375)
    assert image.getpixel((250, 180))[0] > 180  # the same red, at a quarter of the work
    assert query_photo_decode(_jpeg((2000, 1500)), side=640).size == (1000, 750)
    assert query_photo_decode(_jpeg((300, 200)), side=224).size == (300, 200)  # never below the side


def test_a_query_photo_is_upright_and_refused_as_other_images_are(settings):
    # 1/2 is the smallest scale that keeps 800x400 at least 224 on both sides; then rotated 90 degrees.
    assert query_photo_decode(_jpeg((1600, 800), orientation=6), side=224).size == (400, 800)
    assert query_photo_decode(image_bytes(size=(640, 480), fmt="PNG"), side=224).size == (640, 480)  # whole
    with pytest.raises(ImageRejected, match="not an image"):
        query_photo_decode(b"just some text", side=224)
    with pytest.raises(ImageRejected, match="empty"):
        query_photo_decode(b"", side=224)
    settings.SNAPSHELF_IMAGE_MAX_PIXELS = 1000
    with pytest.raises(ImageRejected, match="limit is 1,000 pixels"):
        query_photo_decode(_jpeg((2000, 1500)), side=224)


def test_stored_images_lose_their_metadata_with_orientation_applied_first():
    from tests.hostile_images import jpeg_with_gps

    data = jpeg_with_gps()  # 96x64 pixels, EXIF orientation 6 (turn to stand upright), GPS, a comment
    validated = image_validate(data)
    stored = Image.open(io.BytesIO(validated.data))
    assert stored.size == (64, 96) and (validated.width, validated.height) == (64, 96)  # turned, once
    assert not stored.getexif() and "comment" not in stored.info and "exif" not in stored.info
    assert b"SnapCam" not in validated.data and b"shot at home" not in validated.data
    assert validated.sha256 == hashlib.sha256(validated.data).hexdigest()
    assert validated.source_sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_metadata_is_stripped_in_every_format(fmt):
    image = Image.new("RGB", (32, 24), (200, 30, 30))
    params: dict = {"GIF": {"comment": b"secret"}, "WEBP": {"exif": _gps_exif()}, "PNG": {"exif": _gps_exif()}}[fmt]
    if fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Author", "secret")
        params["pnginfo"] = info
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    validated = image_validate(buffer.getvalue())
    assert validated.source_sha256 and b"secret" not in validated.data and b"SnapCam" not in validated.data
    assert Image.open(io.BytesIO(validated.data)).size == (32, 24)


def _gps_exif() -> bytes:
    exif = Image.Exif()
    exif[271] = "SnapCam"
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 22.0, 1.0)})
    return exif.tobytes()


def test_images_without_metadata_are_stored_as_given():
    data = image_bytes(fmt="JPEG", size=(80, 60))
    validated = image_validate(data)
    assert validated.data is data and validated.source_sha256 == ""


def test_bytes_after_the_image_end_are_dropped():
    from tests.hostile_images import polyglot_png_zip

    validated = image_validate(polyglot_png_zip())
    assert validated.data.endswith(b"IEND\xaeB`\x82") and b"PK" not in validated.data


@pytest.mark.django_db
def test_a_stored_image_reads_back_as_upright_rgb_or_none_with_the_reason_logged(media_root, caplog):
    from catalog.services import product_image_add, product_upsert

    product, _ = product_upsert(sku="PIX-1", title="Pixels")
    image, _ = product_image_add(product=product, data=image_bytes((10, 200, 30), size=(40, 30), fmt="PNG"))
    pixels = product_image_rgb(image)
    assert pixels.mode == "RGB" and pixels.size == (40, 30) and pixels.getpixel((5, 5)) == (10, 200, 30)
    assert product_image_rgb_or_none(image, purpose="the test").size == (40, 30)
    assert product_image_rgb_or_none(None, purpose="the test") is None
    (media_root / image.file.name).write_bytes(b"not an image any more")
    with pytest.raises(ImageRejected):
        product_image_rgb(image)
    assert product_image_rgb_or_none(image, purpose="the test") is None
    assert f"the test skips image {image.pk}" in caplog.text
    (media_root / image.file.name).unlink()
    image = type(image).objects.get(pk=image.pk)  # as a worker loads it
    with pytest.raises(OSError):
        product_image_rgb(image)
    assert product_image_rgb_or_none(image, purpose="the test") is None
