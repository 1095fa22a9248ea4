import pytest
from django.urls import reverse

from catalog.services import product_image_add
from tests.catalog.factories import ProductFactory
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


def test_home_lists_active_products(client):
    shown = ProductFactory(title="Shown mug")
    product_image_add(product=shown, data=image_bytes())
    ProductFactory(title="Hidden mug", is_active=False)
    page = client.get(reverse("search:home")).content.decode()
    assert "Shown mug" in page and "Hidden mug" not in page


def test_product_page(client):
    product = ProductFactory(title="Detail lamp")
    assert "Detail lamp" in client.get(product.get_absolute_url()).content.decode()
    inactive = ProductFactory(is_active=False)
    assert client.get(reverse("search:product-detail", args=[inactive.pk])).status_code == 404


def test_cards_show_link_thumbnail_alt_text_price_and_stock(client):
    """search/product_card.html, escaped as templates escape."""
    from decimal import Decimal

    from pytest_django.asserts import assertInHTML

    from catalog.thumbnails import image_thumbnails_make

    mug = ProductFactory(title="Mug <b>", price=Decimal("9.50"), in_stock=False)
    image, _ = product_image_add(product=mug, data=image_bytes((10, 120, 10)), alt_text="A mug & saucer")
    image_thumbnails_make(image)  # as the worker does when it embeds the image
    lamp = ProductFactory(title="Bare lamp")
    page = client.get(reverse("search:home")).content.decode()
    thumb = image.card_thumbnail
    assert thumb.url.endswith("-card-240x240c.jpg")
    assertInHTML(
        f'<li class="card"><a href="{mug.get_absolute_url()}">'
        f'<img src="{thumb.url}" width="{thumb.width}" height="{thumb.height}" alt="A mug &amp; saucer" loading="lazy">'
        '<span class="title">Mug &lt;b&gt;</span></a>'
        '<span class="price">9.50 EUR</span><span class="stock-out">Out of stock</span></li>',
        page,
    )
    assertInHTML(
        f'<li class="card"><a href="{lamp.get_absolute_url()}"><div class="no-image" aria-hidden="true"></div>'
        '<span class="title">Bare lamp</span></a><span class="price">10.00 EUR</span></li>',
        page,
    )


def test_pages_never_make_a_thumbnail_and_show_the_original_until_the_worker_has(client, media_root):
    from catalog.thumbnails import image_thumbnails_make

    mug = ProductFactory(title="Original mug")
    image, _ = product_image_add(product=mug, data=image_bytes(size=(600, 300)))
    before = sorted(media_root.rglob("*"))
    home = client.get(reverse("search:home")).content.decode()
    detail = client.get(mug.get_absolute_url()).content.decode()
    assert sorted(media_root.rglob("*")) == before  # no thumbnail file made by a request
    assert f'src="{image.file.url}" width="240" height="120"' in home
    assert f'src="{image.file.url}" width="480" height="240"' in detail
    image_thumbnails_make(image)
    image.refresh_from_db()
    assert (
        f'src="{image.card_thumbnail.url}" width="240" height="240"'
        in client.get(reverse("search:home")).content.decode()
    )
    detail = client.get(mug.get_absolute_url()).content.decode()
    assert f'src="{image.detail_thumbnail.url}" width="480" height="240"' in detail


def test_home_says_when_the_catalog_is_empty(client):
    assert "The catalog is empty." in client.get(reverse("search:home")).content.decode()


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_card_prices_are_localized(client, settings, language):
    from decimal import Decimal

    from django.utils import translation
    from django.utils.formats import localize

    settings.USE_THOUSAND_SEPARATOR = True
    ProductFactory(price=Decimal("12345.50"), currency="EUR")
    with translation.override(language):
        expected = localize(Decimal("12345.50"))
        page = client.get(reverse("search:home"), headers={"accept-language": language}).content.decode()
    assert expected != "12345.50"  # grouped in every one of these languages
    assert f'<span class="price">{expected} EUR</span>' in page


def test_a_project_template_restyles_the_cards(client, settings, tmp_path):
    """A shop overrides search/product_card.html like any app template (here from a DIRS folder)."""
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "product_card.html").write_text('<li class="my-card">{{ product.title }}</li>')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    ProductFactory(title="Restyled mug")
    assert '<li class="my-card">Restyled mug</li>' in client.get(reverse("search:home")).content.decode()
