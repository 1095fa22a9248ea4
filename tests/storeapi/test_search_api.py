"""POST /api/v1/search/, similar products and index status, on the demo catalog indexed by the
offline preset (real weights, as in tests/search/test_product_search.py)."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Category, Product
from storeapi.services.api_keys import api_key_create
from tests.search.search_fixtures import demo_photo_bytes
from tests.storeapi.conftest import client_with

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/"


@pytest.fixture(autouse=True)
def media_root(demo_media_root):
    """The demo catalog's files (tests/conftest.py's demo_index), not a fresh folder."""
    return demo_media_root


@pytest.fixture
def shop(demo_index, public_key):
    """A client with a public (search-only) key, as the widget has."""
    return client_with(public_key)


def skus(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [hit["product"]["sku"] for hit in response.json()["results"]]


def test_text_search(shop):
    response = shop.post(SEARCH, {"text": "red mug", "limit": 5}, format="json")
    assert skus(response)[0] == "DEMO-MUG-RED"
    body = response.json()
    first = body["results"][0]
    assert first["score"] > 0 and "words match" in first["reasons"]
    assert first["product"]["images"] and first["product"]["price"]
    assert body["model"] == "offline" and body["close_match"] is True


def test_photo_search_multipart_returns_the_matched_image(shop):
    photo = SimpleUploadedFile("query.png", demo_photo_bytes("DEMO-MUG-RED"), content_type="image/png")
    response = shop.post(SEARCH, {"image": photo, "limit": 3}, format="multipart")
    assert skus(response)[0] == "DEMO-MUG-RED"
    first = response.json()["results"][0]
    product = Product.objects.get(sku="DEMO-MUG-RED")
    assert first["matched_image"]["id"] == product.images.first().pk
    assert first["distance"] < 0.05 and any("looks alike" in reason for reason in first["reasons"])


def test_search_results_carry_the_thumbnails_the_storefront_shows(shop):
    photo = SimpleUploadedFile("query.png", demo_photo_bytes("DEMO-MUG-RED"), content_type="image/png")
    first = shop.post(SEARCH, {"image": photo, "text": "mug", "limit": 3}, format="multipart").json()["results"][0]
    image = Product.objects.get(sku="DEMO-MUG-RED").images.get()
    for shown in (first["matched_image"], first["product"]["images"][0]):
        assert shown["id"] == image.pk
        assert shown["thumbnails"] == {
            name: {"url": f"http://testserver{thumb.url}", "width": thumb.width, "height": thumb.height}
            for name, thumb in (("card", image.card_thumbnail), ("detail", image.detail_thumbnail))
        }
        assert "/thumbnails/" in shown["thumbnails"]["card"]["url"]  # made by the worker, not the original


def test_base64_photo_in_a_form_field_still_works(shop):
    """Not in the schema since 1.1 (multipart carries the photo as a file), kept for existing clients."""
    photo = base64.b64encode(demo_photo_bytes("DEMO-MUG-RED")).decode()
    response = shop.post(SEARCH, {"image": photo, "limit": 3}, format="multipart")
    assert skus(response)[0] == "DEMO-MUG-RED"


def test_photo_search_base64_with_filters_and_cursor_pages(shop):
    photo = base64.b64encode(demo_photo_bytes("DEMO-CAP-BLUE")).decode()
    kitchen = Category.objects.get(name="Kitchen")
    first = shop.post(SEARCH, {"image": f"data:image/png;base64,{photo}", "limit": 4}, format="json").json()
    assert first["results"][0]["product"]["sku"] == "DEMO-CAP-BLUE" and first["next_cursor"]
    # The next page needs only the cursor: the photo is remembered by the service's token.
    second = shop.post(SEARCH, {"cursor": first["next_cursor"], "limit": 4}, format="json")
    first_skus = [hit["product"]["sku"] for hit in first["results"]]
    assert len(skus(second)) == 4 and not set(first_skus) & set(skus(second))
    filtered = shop.post(SEARCH, {"image": photo, "filters": {"category": kitchen.pk}, "limit": 50}, format="json")
    assert skus(filtered) and all(hit["product"]["category"].startswith("Home > Kitchen")
                                  for hit in filtered.json()["results"])  # fmt: skip
    multipart = shop.post(
        SEARCH, {"text": "mug", "filters": '{"attributes": {"colour": "blue"}}', "limit": 3}, format="multipart"
    )
    assert skus(multipart)[0] == "DEMO-MUG-BLUE"


def test_a_photo_cursor_works_only_for_the_key_that_made_it(shop):
    photo = base64.b64encode(demo_photo_bytes("DEMO-CAP-BLUE")).decode()
    cursor = shop.post(SEARCH, {"image": photo, "limit": 4}, format="json").json()["next_cursor"]
    assert shop.post(SEARCH, {"cursor": cursor, "limit": 4}, format="json").status_code == 200
    other_shop = client_with(api_key_create(name="Other shop", kind="public")[1])
    refused = other_shop.post(SEARCH, {"cursor": cursor, "limit": 4}, format="json")
    assert refused.status_code == 400 and "expired" in str(refused.json())


def test_category_alone_browses(shop):
    bags = Category.objects.get(name="Bags")
    response = shop.post(SEARCH, {"filters": {"category": bags.pk}, "limit": 50}, format="json")
    assert len(skus(response)) == 8


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "non_field_errors"),
        ({"text": "   "}, "non_field_errors"),
        ({"image": "%%% not base64"}, "image"),
        ({"image": base64.b64encode(b"not an image").decode()}, "image"),
        ({"text": "mug", "cursor": "forged"}, "cursor"),
        ({"text": "mug", "limit": 0}, "limit"),
        ({"text": "mug", "limit": 1000}, "limit"),
        ({"text": "x" * 501}, "text"),
        ({"text": "mug", "filters": {"category": 10**9}}, "filters"),
        ({"text": "mug", "filters": {"attributes": {"bad key!": "x"}}}, "non_field_errors"),
        ({"text": "mug", "filters": "not json"}, "filters"),
    ],
)
def test_bad_searches_are_400(shop, payload, field):
    response = shop.post(SEARCH, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"], response.json()


def test_similar_products(shop):
    product = Product.objects.get(sku="DEMO-STRIPED-SHIRT-GREEN")
    response = shop.get(f"/api/v1/products/{product.pk}/similar/", {"limit": 4})
    found = skus(response)
    assert len(found) == 4 and product.sku not in found
    assert all(hit["matched_image"] and hit["distance"] is not None for hit in response.json()["results"])
    assert shop.get("/api/v1/products/999999999/similar/").status_code == 404
    assert shop.get(f"/api/v1/products/{product.pk}/similar/", {"limit": "many"}).status_code == 400


def test_index_status(demo_index, read_key):
    body = client_with(read_key).get("/api/v1/index/status/").json()
    assert body["active"]["name"] == "offline" and body["building"] is None
    counts = next(m["counts"] for m in body["models"] if m["model"]["name"] == "offline")
    assert counts["image"]["ready"] == counts["product"]["ready"] == Product.objects.count()
    assert body["pending"] == 0
