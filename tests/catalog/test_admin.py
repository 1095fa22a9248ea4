import re

import pytest
from django.urls import reverse

from catalog.models import Product, ProductImage
from tests.catalog.factories import ProductFactory
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


def product_form(**overrides):
    data = {
        "sku": "ADM-1", "title": "Admin mug", "description": "", "brand": "", "category": "", "price": "4.50",
        "currency": "EUR", "stock": "2", "in_stock": "on", "attributes": "{}", "url": "", "is_active": "on",
        "images-TOTAL_FORMS": "1", "images-INITIAL_FORMS": "0", "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000", "images-0-position": "0", "images-0-alt_text": "front",
    }  # fmt: skip
    data.update(overrides)
    return data


def upload(name, data, content_type="image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_product_add_with_image(admin_client):
    response = admin_client.post(
        reverse("admin:catalog_product_add"),
        product_form(**{"images-0-file": upload("a.png", image_bytes())}),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    image = ProductImage.objects.get(product__sku="ADM-1")
    assert image.width == 64 and image.height == 48 and len(image.sha256) == 64
    assert image.alt_text == "front"


def test_product_add_with_bad_image_shows_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:catalog_product_add"), product_form(**{"images-0-file": upload("a.png", b"<html>")})
    )
    assert response.status_code == 200
    assert "The file is not an image" in response.content.decode()
    assert not Product.objects.filter(sku="ADM-1").exists()


def test_changelist_search_and_filters(admin_client):
    product = ProductFactory(sku="FIND-ME", title="Blue lamp")
    from catalog.services import product_image_add

    product_image_add(product=product, data=image_bytes())
    ProductFactory(sku="OTHER", title="Green cup", in_stock=False)
    url = reverse("admin:catalog_product_changelist")
    page = admin_client.get(url, {"q": "find-me"}).content.decode()
    assert "Blue lamp" in page and "Green cup" not in page and "<img src=" in page
    page = admin_client.get(url, {"in_stock__exact": "0"}).content.decode()
    assert "Green cup" in page and "Blue lamp" not in page
    assert admin_client.get(reverse("admin:catalog_product_change", args=[product.pk])).status_code == 200


def test_image_inline_marks_a_photo_search_only(admin_client):
    add = reverse("admin:catalog_product_add")
    assert 'name="images-0-search_only"' in admin_client.get(add).content.decode()
    response = admin_client.post(
        add, product_form(**{"images-0-file": upload("a.png", image_bytes()), "images-0-search_only": "on"})
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    image = ProductImage.objects.get(product__sku="ADM-1")
    assert image.search_only
    page = admin_client.get(reverse("admin:catalog_product_change", args=[image.product_id])).content.decode()
    box = re.search(r'<input[^>]*name="images-0-search_only"[^>]*>', page)
    assert box and "checked" in box.group(0)
