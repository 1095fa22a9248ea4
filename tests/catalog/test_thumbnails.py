"""Thumbnails kept with the image: made from its pixels, read by pages, never made by a read."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from catalog.services import product_image_add, product_image_replace_file, product_upsert
from catalog.thumbnails import image_thumbnails_make, thumbnails_make_missing
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


def image_of(size, colour=(200, 30, 30), sku="T-1"):
    product, _ = product_upsert(sku=sku, title="Thumbnailed")
    image, _ = product_image_add(product=product, data=image_bytes(colour, size=size, fmt="JPEG"))
    return image


def test_until_made_a_thumbnail_is_the_original_scaled_into_its_box(media_root):
    image = image_of((960, 480))
    assert (image.card_thumbnail.url, image.card_thumbnail.width, image.card_thumbnail.height) == (
        image.file.url, 240, 120)  # fmt: skip
    assert (image.detail_thumbnail.width, image.detail_thumbnail.height) == (480, 240)
    assert not (media_root / "products" / "thumbnails").exists()  # reading made nothing


def test_made_thumbnails_are_stored_with_the_image_and_read_back(media_root):
    image = image_of((960, 480))
    assert image_thumbnails_make(image)
    image.refresh_from_db()
    card, detail = image.card_thumbnail, image.detail_thumbnail
    assert (card.width, card.height) == (240, 240)  # the box filled, cropped to its centre
    assert (detail.width, detail.height) == (480, 240)  # the whole image inside the box
    for thumb, name in ((card, "card"), (detail, "detail")):
        stored = image.thumbnails[name]["name"]
        assert thumb.url == default_storage.url(stored) and stored.startswith(
            f"products/thumbnails/{image.sha256[:2]}/"
        )
        with default_storage.open(stored) as handle, Image.open(handle) as picture:
            assert picture.format == "JPEG" and picture.size == (thumb.width, thumb.height)
            assert picture.getpixel((thumb.width // 2, thumb.height // 2))[0] > 180


def test_small_images_are_never_scaled_up(media_root):
    image = image_of((100, 60))
    image_thumbnails_make(image)
    assert (image.card_thumbnail.width, image.card_thumbnail.height) == (100, 60)
    assert (image.detail_thumbnail.width, image.detail_thumbnail.height) == (100, 60)


def test_replaced_bytes_show_the_original_until_their_own_thumbnails_are_made(media_root):
    image = image_of((400, 400))
    image_thumbnails_make(image)
    old_card = image.card_thumbnail.url
    product_image_replace_file(image=image, data=image_bytes((20, 20, 200), size=(300, 300), fmt="JPEG"))
    image.refresh_from_db()
    assert image.card_thumbnail.url == image.file.url != old_card  # the old bytes' thumbnail is never shown
    assert thumbnails_make_missing(limit=10) == 1
    image.refresh_from_db()
    assert image.card_thumbnail.url not in (old_card, image.file.url)
    assert thumbnails_make_missing(limit=10) == 0


def test_bytes_that_will_not_decode_keep_the_original_and_are_not_tried_again(media_root, caplog):
    image = image_of((200, 200))
    (media_root / image.file.name).write_bytes(b"not an image any more")
    assert not image_thumbnails_make(image)
    image.refresh_from_db()
    assert image.thumbnails == {} and image.card_thumbnail.url == image.file.url
    assert "no thumbnails for product image" in caplog.text
    assert thumbnails_make_missing(limit=10) == 0
