"""Shopper-like copies of catalog photos: what a photo of the same product taken in a shop looks like.

A catalog photo shows the whole product, centred, on white, well lit. A shopper's photo shows part of
it, tilted, smaller, in front of a cluttered shelf or room, under other light, a little blurred, and
compressed by a phone. `shopper_photo` applies all of that, drawn from a seeded generator, so the same
(photo, seed) always gives the same copy. The quality benchmark searches with these copies, and
calibration uses their distances as "what a real match looks like".

The busy background is drawn by code (gradient, shapes, stripes, noise): nothing is read at run time.
Only Pillow and numpy; no Django, no torch.
"""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

# Each range is (low, high), drawn uniformly.
CROP_SIDE = (0.60, 0.80)  # share of each side of the catalog photo kept
PRODUCT_SIDE = (0.55, 0.80)  # share of the output's longer side the (cropped) product covers
TILT_DEGREES = 12.0  # rotated by up to this much either way
BRIGHTNESS = (0.60, 1.35)
CONTRAST = (0.60, 1.30)
SATURATION = (0.70, 1.30)
COLOUR_CAST = 0.12  # each channel scaled by up to +-12%: shop lighting is rarely white
BLUR_RADIUS = (0.0, 1.6)  # Gaussian radius in pixels at 224 px
JPEG_QUALITY = (45, 85)
BACKGROUND_SHAPES = (18, 40)
# Pixels this close to white (each channel >= it) and connected to the photo's border are the
# catalog's backdrop: they are replaced by the busy background, as if the product stood in a shop.
BACKDROP_MIN_CHANNEL = 246
MIN_PRODUCT_SHARE = 0.08  # of the photo; below it the backdrop is kept


def shopper_photo(image: Image.Image, *, seed: int) -> Image.Image:
    """A shopper-like RGB copy of `image`, the same size, deterministic for (image, seed)."""
    rng = random.Random(seed)
    source = image.convert("RGB")
    width, height = source.size
    product, mask = _crop(source, _product_mask(source), rng)
    product, mask = _resize_for_scene(product, mask, (width, height), rng)
    angle = rng.uniform(-TILT_DEGREES, TILT_DEGREES)
    product = product.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(255, 255, 255))
    mask = mask.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=0)
    scene = busy_background((width, height), rng)
    left = rng.randint(min(0, width - product.width), max(0, width - product.width))
    top = rng.randint(min(0, height - product.height), max(0, height - product.height))
    scene.paste(product, (left, top), mask)
    return _jpeg(_blur(_light(scene, rng), rng), rng)


def busy_background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A cluttered RGB scene: a two-colour gradient, shelf-like stripes, random shapes and noise."""
    width, height = size
    top, bottom = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    gradient = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3))
    scene = Image.fromarray(gradient.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(scene)
    for _ in range(rng.randint(2, 5)):  # shelves or table edges
        y = rng.randrange(height)
        draw.rectangle((0, y, width, y + rng.randint(3, max(4, height // 12))), fill=_colour(rng))
    for _ in range(rng.randint(*BACKGROUND_SHAPES)):
        _shape_draw(draw, size, rng)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0.0, 10.0, (height, width, 3))
    noisy = np.asarray(scene, np.float32) + noise
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _crop(image: Image.Image, mask: Image.Image, rng: random.Random) -> tuple[Image.Image, Image.Image]:
    width, height = image.size
    crop_width = max(1, round(width * rng.uniform(*CROP_SIDE)))
    crop_height = max(1, round(height * rng.uniform(*CROP_SIDE)))
    left = rng.randint(0, width - crop_width)
    top = rng.randint(0, height - crop_height)
    box = (left, top, left + crop_width, top + crop_height)
    return image.crop(box), mask.crop(box)


def _product_mask(image: Image.Image) -> Image.Image:
    """255 on the product, 0 on the near-white backdrop reachable from the border.

    Flood-filling from the whole photo's border (rather than dropping every light pixel, or working
    on the crop) keeps a white shirt's inside: only the backdrop around the product is connected to
    the edge. When that would leave almost nothing (a white product on white), the whole photo is
    kept, as if held up on a pale board.
    """
    light: np.ndarray = np.all(np.asarray(image) >= BACKDROP_MIN_CHANNEL, axis=2)
    backdrop = np.zeros_like(light)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        backdrop[edge] = light[edge]
    while True:  # grow the border's light pixels through light neighbours until nothing changes
        grown = backdrop.copy()
        grown[1:, :] |= backdrop[:-1, :]
        grown[:-1, :] |= backdrop[1:, :]
        grown[:, 1:] |= backdrop[:, :-1]
        grown[:, :-1] |= backdrop[:, 1:]
        grown &= light
        if np.array_equal(grown, backdrop):
            break
        backdrop = grown
    if backdrop.mean() > 1.0 - MIN_PRODUCT_SHARE:
        backdrop[:] = False
    mask = Image.fromarray(np.where(backdrop, 0, 255).astype(np.uint8), "L")
    # A slightly soft edge, as a real object's outline against a real background.
    return mask.filter(ImageFilter.GaussianBlur(1.0))


def _resize_for_scene(
    product: Image.Image, mask: Image.Image, size: tuple[int, int], rng: random.Random
) -> tuple[Image.Image, Image.Image]:
    target = max(size) * rng.uniform(*PRODUCT_SIDE)
    scale = target / max(product.size)
    new_size = (max(1, round(product.width * scale)), max(1, round(product.height * scale)))
    return product.resize(new_size, Image.Resampling.BICUBIC), mask.resize(new_size, Image.Resampling.BILINEAR)


def _light(image: Image.Image, rng: random.Random) -> Image.Image:
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(*BRIGHTNESS))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(*CONTRAST))
    image = ImageEnhance.Color(image).enhance(rng.uniform(*SATURATION))
    cast = np.array([1.0 + rng.uniform(-COLOUR_CAST, COLOUR_CAST) for _ in range(3)], np.float32)
    tinted = np.asarray(image, np.float32) * cast
    return Image.fromarray(np.clip(tinted, 0, 255).astype(np.uint8), "RGB")


def _blur(image: Image.Image, rng: random.Random) -> Image.Image:
    radius = rng.uniform(*BLUR_RADIUS)
    return image.filter(ImageFilter.GaussianBlur(radius)) if radius > 0.2 else image


def _jpeg(image: Image.Image, rng: random.Random) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=rng.randint(*JPEG_QUALITY))
    buffer.seek(0)
    with Image.open(buffer) as encoded:
        return encoded.convert("RGB")


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _shape_draw(draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: random.Random) -> None:
    width, height = size
    x0, y0 = rng.randrange(-width // 4, width), rng.randrange(-height // 4, height)
    x1 = x0 + rng.randint(width // 20, width // 2)
    y1 = y0 + rng.randint(height // 20, height // 2)
    kind = rng.randrange(3)
    if kind == 0:
        draw.rectangle((x0, y0, x1, y1), fill=_colour(rng))
    elif kind == 1:
        draw.ellipse((x0, y0, x1, y1), fill=_colour(rng))
    else:
        draw.line((x0, y0, x1, y1), fill=_colour(rng), width=rng.randint(2, 8))
