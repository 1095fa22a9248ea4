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
