"""A corpus of hostile and awkward image files, made by code: decompression bombs, truncated
files, unusual modes, animations, huge metadata, polyglots and wrong extensions. Each entry says
what a correct intake does with it: refuse it (a 4xx with a message) or accept it."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, PngImagePlugin


@dataclass(frozen=True)
class Hostile:
    name: str  # also the upload's file name: its extension may lie
    data: bytes
    content_type: str
    accepted: bool  # as a product image (pixel cap 40 MP)
    query_accepted: bool  # as a shopper's query photo (pixel cap 12 MP)


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _photo(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    image = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (image, image.rotate(90), image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))).convert(mode)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` grey pixels and carries a few rows of zeros: a few
    hundred bytes, gigabytes once decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def gif_header_bomb() -> bytes:
    """A GIF whose screen and frame are 65535 x 65535."""
    small = _save(Image.new("P", (2, 2)), "GIF")
    data = bytearray(small)
    data[6:10] = struct.pack("<HH", 65535, 65535)
    frame = data.index(b",")  # the image descriptor
    data[frame + 5 : frame + 9] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def jpeg_header_bomb() -> bytes:
    """A JPEG whose frame header (SOF0) says 65500 x 65500."""
    data = bytearray(_save(_photo(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    return bytes(data)


def png_ztxt_bomb() -> bytes:
    """A PNG with a compressed text chunk that inflates to 50 MB."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "A" * 50_000_000, zip=True)
    return _save(_photo(), "PNG", pnginfo=info)


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[271] = "SnapCam"  # Make
    exif[0x0112] = 6  # Orientation: turned 90 degrees clockwise
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 1.0), 3: "E", 4: (4.0, 53.0, 2.0)})
    return _save(_photo(size=(96, 64)), "JPEG", exif=exif.tobytes(), comment=b"shot at home")


def jpeg_huge_exif() -> bytes:
    exif = Image.Exif()
    exif[270] = "x" * 65_000  # ImageDescription: nearly the most one APP1 segment holds
    return _save(_photo(), "JPEG", exif=exif.tobytes())


def polyglot_png_zip() -> bytes:
    """A PNG with a ZIP archive (holding an HTML page) after its end."""
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.html", "<script>alert(document.cookie)</script>")
    return _save(_photo(), "PNG") + archive.getvalue()


def polyglot_gif_html() -> bytes:
    """A GIF whose comment is an HTML page (a GIFAR-style polyglot)."""
    return _save(_photo("P"), "GIF", comment=b"<html><script>alert(1)</script></html>")


def _animated(fmt: str) -> bytes:
    frames = [_photo().rotate(angle) for angle in (0, 90, 180)]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _palette_with_transparency(fmt: str) -> bytes:
    image = _photo("P")
    return _save(image, fmt, transparency=0)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def hostile_corpus() -> list[Hostile]:
    """Every entry: name, bytes, declared content type, accepted as a product image, as a query."""
    jpeg = _save(_photo(), "JPEG")
    png = _save(_photo(), "PNG")
    return [
        Hostile("bomb-png-400mp.png", png_header_bomb(20_000, 20_000), "image/png", False, False),
        Hostile("bomb-png-36mp.png", png_header_bomb(6_000, 6_000), "image/png", True, False),
        Hostile("bomb-png-16mp.png", png_header_bomb(4_000, 4_000), "image/png", True, False),
        Hostile("bomb-gif.gif", gif_header_bomb(), "image/gif", False, False),
        Hostile("bomb-jpeg.jpg", jpeg_header_bomb(), "image/jpeg", False, False),
        Hostile("bomb-ztxt.png", png_ztxt_bomb(), "image/png", False, False),
        Hostile("truncated.jpg", jpeg[: len(jpeg) // 2], "image/jpeg", False, False),
        Hostile("truncated.png", png[: len(png) // 2], "image/png", False, False),
        Hostile("header-only.png", png[:33], "image/png", False, False),
        Hostile("empty.jpg", b"", "image/jpeg", False, False),
        Hostile("cmyk.jpg", _save(_photo("CMYK"), "JPEG"), "image/jpeg", True, True),
        Hostile("grey-16bit.png", _save(_photo("L").convert("I;16"), "PNG"), "image/png", True, True),
        Hostile("palette-transparent.png", _palette_with_transparency("PNG"), "image/png", True, True),
        Hostile("palette-transparent.gif", _palette_with_transparency("GIF"), "image/gif", True, True),
        Hostile("rgba.webp", _save(_photo("RGBA"), "WEBP"), "image/webp", True, True),
        Hostile("animated.gif", _animated("GIF"), "image/gif", True, True),
        Hostile("animated.webp", _animated("WEBP"), "image/webp", True, True),
        Hostile("animated.png", _animated("PNG"), "image/png", True, True),
        Hostile("gps-rotated.jpg", jpeg_with_gps(), "image/jpeg", True, True),
        Hostile("huge-exif.jpg", jpeg_huge_exif(), "image/jpeg", True, True),
        Hostile("polyglot-png-zip.png", polyglot_png_zip(), "image/png", True, True),
        Hostile("polyglot-gif-html.gif", polyglot_gif_html(), "image/gif", True, True),
        Hostile("png-named.jpg", png, "image/jpeg", True, True),
        Hostile("bmp-named.png", _save(_photo(), "BMP"), "image/png", False, False),
        Hostile("tiff-named.jpg", _save(_photo(), "TIFF"), "image/jpeg", False, False),
        Hostile("svg-named.png", SVG, "image/png", False, False),
        Hostile("html.jpg", b"<html><body>not an image</body></html>", "image/jpeg", False, False),
    ]
