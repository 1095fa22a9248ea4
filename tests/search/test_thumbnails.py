"""Card thumbnails: sorl's answer, remembered per process, and right after an image is replaced."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from sorl.thumbnail import get_thumbnail

from catalog.services import product_image_add, product_image_replace_file
from search import thumbnails
from search.thumbnails import Thumbnail, thumbnail_get, thumbnail_memo_clear
from tests.catalog.factories import ProductFactory
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db
# Colours no other test uses: the image files are named by their bytes, and sorl's key/value store
# (shared by the whole test session) would otherwise answer with a thumbnail another test made in
# its own MEDIA_ROOT.
RED, BLUE = (203, 31, 29), (29, 31, 203)


@pytest.fixture(autouse=True)
def empty_memo():
    thumbnail_memo_clear()
    yield
    thumbnail_memo_clear()


@pytest.fixture
def sorl_calls(monkeypatch):
    """The real sorl get_thumbnail, counted."""
    calls = []

    def counted(source, geometry, **options):
        calls.append((source.name, geometry))
        return get_thumbnail(source, geometry, **options)

    monkeypatch.setattr(thumbnails, "get_thumbnail", counted)
    return calls


def stored_colour(url: str) -> tuple[int, ...]:
    name = url.removeprefix("/media/")
    with default_storage.open(name) as file, Image.open(file) as image:
        return image.convert("RGB").getpixel((image.width // 2, image.height // 2))


def test_the_answer_is_sorls_and_sorl_is_asked_once(sorl_calls):
    image, _ = product_image_add(product=ProductFactory(), data=image_bytes(RED, size=(300, 200)))
    first = thumbnail_get(image.file, "240x240", crop="center")
    assert thumbnail_get(image.file, "240x240", crop="center") is first
    sorl = get_thumbnail(image.file, "240x240", crop="center")
    assert first == Thumbnail(url=sorl.url, width=sorl.width, height=sorl.height)
    assert len(sorl_calls) == 1
    # Another geometry or other options are another thumbnail.
    assert thumbnail_get(image.file, "240x240").url != first.url
    assert len(sorl_calls) == 2


def test_a_replaced_image_shows_its_new_thumbnail(sorl_calls):
    image, _ = product_image_add(product=ProductFactory(), data=image_bytes(RED))
    before = thumbnail_get(image.file, "240x240", crop="center")
    product_image_replace_file(image=image, data=image_bytes(BLUE))
    after = thumbnail_get(image.file, "240x240", crop="center")
    assert after.url != before.url and after.url == get_thumbnail(image.file, "240x240", crop="center").url
    red, blue = stored_colour(before.url), stored_colour(after.url)
    assert red[0] > 150 > red[2] and blue[2] > 150 > blue[0]


def test_entries_expire_with_sorls_cache_timeout(settings, sorl_calls):
    settings.THUMBNAIL_CACHE_TIMEOUT = 0
    image, _ = product_image_add(product=ProductFactory(), data=image_bytes(RED))
    thumbnail_get(image.file, "240x240")
    thumbnail_get(image.file, "240x240")
    assert len(sorl_calls) == 2


def test_a_settings_change_forgets_the_memo(settings, sorl_calls):
    image, _ = product_image_add(product=ProductFactory(), data=image_bytes(RED))
    thumbnail_get(image.file, "240x240")
    settings.MEDIA_URL = "/files/"
    assert thumbnail_get(image.file, "240x240").url.startswith("/files/")
    assert len(sorl_calls) == 2


def test_a_missing_file_is_no_thumbnail_and_is_not_remembered(settings, sorl_calls, caplog):
    # Bytes no other test uses: sorl's own in-process cache would answer for known ones.
    image, _ = product_image_add(product=ProductFactory(), data=image_bytes((7, 77, 177)))
    image.file.storage.delete(image.file.name)
    settings.THUMBNAIL_DEBUG = False
    assert thumbnail_get(image.file, "240x240") is None
    assert thumbnail_get(image.file, "240x240") is None
    assert len(sorl_calls) == 2 and "Thumbnail of" in caplog.text
    settings.THUMBNAIL_DEBUG = True  # as sorl's own tag: raise while debugging
    with pytest.raises(Exception):  # noqa: B017 - whatever the storage raises
        thumbnail_get(image.file, "240x240")
