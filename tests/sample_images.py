"""Small images made in memory for tests."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(
    colour: tuple[int, int, int] = (200, 30, 30),
    size: tuple[int, int] = (64, 48),
    fmt: str = "PNG",
    mode: str = "RGB",
) -> bytes:
    image = Image.new("RGB", size, colour)
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()
