"""The plain-dict products and search hits give the same JSON, byte for byte, as the serializers
that document them in the OpenAPI schema."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from catalog.models import Product
from catalog.services import category_get_or_create_path, product_image_add
from search.services.product_search import SearchHit
from storeapi.selectors import ProductListFilters, product_list
from storeapi.serializers.products import ProductImageSerializer, ProductSerializer
from storeapi.serializers.representations import (
    product_data,
    product_image_data,
    products_data,
    search_hit_data,
    search_hits_data,
)
from storeapi.serializers.search import SearchHitSerializer
from tests.catalog.factories import ProductFactory
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


def as_json(data: object) -> bytes:
    return JSONRenderer().render(data)


@pytest.fixture
def request_(settings) -> Request:
    settings.ALLOWED_HOSTS = ["shop.example"]
    return Request(APIRequestFactory().get("/api/v1/products/", HTTP_HOST="shop.example:8443", secure=True))


@pytest.fixture
def products() -> list[Product]:
    """Products with no image, one image and three; a deep category, none, and odd values."""
    deep = category_get_or_create_path("Apparel > Men > Topwear > Tshirts")  # deeper than select_related
    bare = ProductFactory(category=None, description="", brand="", attributes={}, url="", price=Decimal("0"))
    one = ProductFactory(
        category=deep, price=Decimal("1234567.5"), attributes={"colour": "red", "sizes": ["S", "M"], "n": 1.5},
        url="https://shop.example/p/1", brand="Acme", description="Soft \u00e9t\u00e9 cotton \U0001f455",
        in_stock=False, stock=0, is_active=False,
    )  # fmt: skip
    product_image_add(product=one, data=image_bytes((200, 30, 30)), alt_text="front")
    three = ProductFactory()
    for position, colour in enumerate([(10, 10, 200), (10, 200, 10), (200, 200, 10)]):
        product_image_add(
            product=three, data=image_bytes(colour), position=position, source_url="https://cdn.example/x"
        )
    return list(product_list(ProductListFilters()).filter(pk__in=[bare.pk, one.pk, three.pk]).order_by("pk"))


@pytest.mark.parametrize(
    ("datetime_format", "time_zone"), [("iso-8601", "UTC"), ("%Y-%m-%d %H:%M", "UTC"), ("iso-8601", "Asia/Kolkata")]
)
def test_products_and_images_as_the_serializers_give_them(products, request_, settings, datetime_format, time_zone):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DATETIME_FORMAT": datetime_format}
    settings.TIME_ZONE = time_zone
    serialized = ProductSerializer(products, many=True, context={"request": request_}).data
    assert as_json([product_data(product, request_) for product in products]) == as_json(serialized)
    assert as_json(products_data(products, request_)) == as_json(serialized)
    assert as_json(products_data(products, None)) == as_json(ProductSerializer(products, many=True).data)
    if time_zone != "UTC":
        assert serialized[0]["created_at"].endswith("+05:30")
    assert [len(product["images"]) for product in serialized] == [0, 1, 3]
    assert serialized[1]["category"] == "Apparel > Men > Topwear > Tshirts"
    assert serialized[1]["images"][0]["url"].startswith("https://shop.example:8443/")
    images = products[2].images.all()
    serialized_images = ProductImageSerializer(images, many=True, context={"request": request_}).data
    assert as_json([product_image_data(image, request_) for image in images]) == as_json(serialized_images)


def test_search_hits_as_the_serializer_gives_them(products, request_):
    bare, one, three = products
    hits = [
        SearchHit(product=one, score=0.92, matched_image=one.images.all()[0], distance=0.08, reasons=["looks alike"]),
        SearchHit(product=three, score=1, matched_image=None, distance=None, reasons=[]),
        SearchHit(product=bare, score=0.1, reasons=["words match", "title matches 'red'"]),
    ]
    serialized = SearchHitSerializer(hits, many=True, context={"request": request_}).data
    assert as_json([search_hit_data(hit, request_) for hit in hits]) == as_json(serialized)
    assert as_json(search_hits_data(hits, request_)) == as_json(serialized)
    assert serialized[0]["matched_image"]["id"] == one.images.all()[0].pk and serialized[1]["matched_image"] is None


def test_image_urls_follow_a_changed_media_url(products, request_, settings):
    """File-system URLs are remembered per process; the memo is keyed by the storage's base URL."""
    image = products[1].images.all()[0]
    assert product_image_data(image, request_)["url"].startswith("https://shop.example:8443/media/")
    settings.MEDIA_URL = "https://cdn.example/assets/"
    assert product_image_data(image, request_)["url"] == f"https://cdn.example/assets/{image.file.name}"
    assert as_json(product_image_data(image, request_)) == as_json(
        ProductImageSerializer(image, context={"request": request_}).data
    )
