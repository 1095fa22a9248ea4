"""The shopper-like copy recipe (search/shopper_photos.py) on catalog-like photos drawn here."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from search.shopper_photos import shopper_photo


def _catalog_photo(size: tuple[int, int] = (224, 224), colour: tuple[int, int, int] = (30, 60, 200)) -> Image.Image:
    """A product (a coloured shirt-like shape with a white stripe) centred on a white backdrop."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle((width // 4, height // 5, 3 * width // 4, 4 * height // 5), fill=colour)
    draw.rectangle((width // 4, height // 2 - 4, 3 * width // 4, height // 2 + 4), fill=(255, 255, 255))
    return image


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_the_same_seed_gives_the_same_copy_byte_for_byte():
    photo = _catalog_photo()

    assert np.array_equal(_pixels(shopper_photo(photo, seed=7)), _pixels(shopper_photo(photo, seed=7)))


def test_different_seeds_give_different_copies():
    photo = _catalog_photo()
    copies = [_pixels(shopper_photo(photo, seed=seed)) for seed in range(5)]

    for i in range(len(copies)):
        for j in range(i + 1, len(copies)):
            assert np.abs(copies[i] - copies[j]).mean() > 10


def test_the_copy_is_rgb_the_same_size_and_leaves_the_input_alone():
    for size in [(224, 224), (300, 180), (60, 90)]:
        photo = _catalog_photo(size)
        before = _pixels(photo).copy()

        copy = shopper_photo(photo, seed=3)

        assert copy.mode == "RGB"
        assert copy.size == size
        assert np.array_equal(_pixels(photo), before)


def test_other_modes_are_accepted():
    photo = _catalog_photo()
    for mode in ["L", "RGBA", "P", "CMYK"]:
        assert shopper_photo(photo.convert(mode), seed=1).mode == "RGB"


def test_the_white_backdrop_becomes_a_busy_background_and_the_product_stays_visible():
    photo = _catalog_photo(colour=(30, 60, 200))
    for seed in range(10):
        copy = _pixels(shopper_photo(photo, seed=seed))

        near_white = (copy >= 240).all(axis=2).mean()
        assert near_white < 0.2, "most of the white backdrop should be replaced"
        # The product's blue survives light changes as blue-dominant pixels.
        blue = (copy[..., 2] > copy[..., 0] + 40) & (copy[..., 2] > copy[..., 1] + 40)
        assert blue.mean() > 0.05
        assert copy.std() > 30, "a busy background is not flat"


def test_a_white_product_on_white_is_kept_whole_rather_than_erased():
    photo = Image.new("RGB", (224, 224), (255, 255, 255))
    ImageDraw.Draw(photo).rectangle((100, 100, 110, 110), fill=(250, 250, 250))

    copy = _pixels(shopper_photo(photo, seed=2))

    assert (copy.mean(axis=2) > 150).mean() > 0.15, "the pale photo itself is pasted into the scene"
