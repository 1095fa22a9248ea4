"""Product-like drawings on white, in any colour, for the embedders' similarity tests."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

RED = (200, 30, 30)
BLUE = (30, 60, 200)
Colour = tuple[int, int, int]


def mug(colour: Colour) -> Image.Image:
    image, draw = _canvas()
    draw.rectangle((70, 60, 170, 200), fill=colour)
    draw.ellipse((150, 90, 215, 170), outline=colour, width=14)
    return image


def mug_variant(colour: Colour) -> Image.Image:
    """Another mug: taller, wider, thinner handle."""
    image, draw = _canvas()
    draw.rectangle((60, 50, 165, 210), fill=colour)
    draw.ellipse((145, 85, 215, 175), outline=colour, width=12)
    return image


def star(colour: Colour) -> Image.Image:
    image, draw = _canvas()
    points = []
    for i in range(10):
        radius, angle = (110 if i % 2 == 0 else 45), math.pi / 2 + i * math.pi / 5
        points.append((128 + radius * math.cos(angle), 128 - radius * math.sin(angle)))
    draw.polygon(points, fill=colour)
    return image


def disc(colour: Colour) -> Image.Image:
    image, draw = _canvas()
    draw.ellipse((40, 40, 216, 216), fill=colour)
    return image


def _canvas() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (256, 256), "white")
    return image, ImageDraw.Draw(image)
