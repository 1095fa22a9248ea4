"""The "no close match" threshold: calibrated per model on shopper-like copies of the catalog's own
photos, stored with the model, redone when due, shown in the admin; and a photo search that is
not close still shows the nearest products."""

from __future__ import annotations

import pytest
from django.urls import reverse
from PIL import Image

from catalog.models import Product
from search.embedders.registry import embedder_get
from search.models import NoMatchCalibration
from search.services.no_match import match_distance, no_match_distance
from search.services.product_search import SearchQuery, product_search
from search.shopper_photos import shopper_photo
from tests.search.search_fixtures import demo_photo, noise, png


@pytest.fixture
def media_root(demo_media_root):
    """The demo index's files (tests/search/conftest.py)."""
    return demo_media_root


pytestmark = pytest.mark.django_db


def test_calibration_of_the_demo_catalog_keeps_real_matches_and_records_its_model(demo_index):
    calibration = NoMatchCalibration.objects.get(model=demo_index)
    assert calibration.model.status == "active" and calibration.keep_share == 0.99
    # 32 of the 64 demo photos are sampled (DEMO_CALIBRATION_SAMPLE), each copied once.
    assert calibration.copies == 32 and calibration.shop_photos == 0 and calibration.catalog_images == 64
    assert calibration.negative_pairs == 32 * 31 // 2 and calibration.catalog_products == 64
    positives = calibration.positive_quantiles
    assert positives["0.95"] <= calibration.threshold <= positives["1.0"]
    assert 0 < positives["0.5"] < calibration.threshold
    assert no_match_distance(demo_index) == pytest.approx(calibration.threshold)
    # The flag decides in the offline model's classifier space (docs/adr/0011).
    matches = calibration.match_quantiles
    assert calibration.match_space == "imagenet-logits-v1"
    assert matches["0.95"] <= calibration.match_threshold <= matches["1.0"]
    # Copies the calibration never saw (other seeds) of 16 products: nearest products shown, at
    # most a quarter flagged. (The demo's drawn shapes on a busy background are hard to tell apart: the
    # threshold is high, and the copies rarely find their own product.)
    flagged = 0
    for index, product in enumerate(Product.objects.order_by("sku")[::4]):
        photo = Image.open(product.images.get().file).convert("RGB")
        result = product_search(SearchQuery(image=shopper_photo(photo, seed=1000 + index), limit=10))
        assert len(result.hits) == 10
        flagged += not result.close_match
    # A 32-copy sample's 99% point is close to its largest distance: 0 to 3 of 16 were flagged in
    # full-suite runs while the sample and seeds followed database ids (now they follow the
    # catalog: the same in every run). A threshold from random pairs (the old rule) flagged nearly
    # all of them.
    assert flagged <= 4


def test_a_photo_unlike_anything_still_shows_the_nearest_products_with_a_notice(demo_index):
    result = product_search(SearchQuery(image=noise(0), limit=5))
    assert not result.close_match and len(result.hits) == 5 and result.has_more
    assert result.hits[0].distance > no_match_distance(demo_index)
    embedder = embedder_get(demo_index.name)
    vector = embedder.embed_query_images([noise(0)])[0]
    nearest = [hit.matched_image.pk for hit in result.hits[:3]]
    threshold = NoMatchCalibration.objects.get(model=demo_index).match_threshold
    assert match_distance(demo_index, embedder.match_vectors, vector, nearest) > threshold
    assert result.fallback == "category" and {c.name for c in result.suggested_categories} == {
        "Apparel",
        "Bags",
        "Home",
    }
    with_words = product_search(SearchQuery(image=noise(0), text="lamp", limit=5))
    assert not with_words.close_match and with_words.fallback == "keyword" and len(with_words.hits) == 5
    assert with_words.alternatives and all("Lamp" in hit.product.title for hit in with_words.alternatives)
    assert product_search(SearchQuery(image=demo_photo("DEMO-TABLE-LAMP-RED"), limit=1)).close_match


def test_storefront_and_api_show_the_notice_above_the_nearest_products(client, demo_index):
    from django.core.files.uploadedfile import SimpleUploadedFile

    photo = SimpleUploadedFile("noise.png", png(noise(1)), content_type="image/png")
    page = client.post(reverse("search:results"), {"photo": photo, "q": "mug"}, follow=True)
    html = page.content.decode()
    assert "No exact match. These look closest." in html and 'id="alternatives-heading"' in html
    assert html.index("No exact match") < html.index('class="grid results"')
    assert len(page.context["result"].hits) == 24 and "Red Mug" in html
    from storeapi.services.api_keys import api_key_create
    from tests.storeapi.conftest import client_with

    api = client_with(api_key_create(name="shop", kind="public")[1])
    photo = SimpleUploadedFile("noise.png", png(noise(1)), content_type="image/png")
    body = api.post("/api/v1/search/", {"image": photo, "text": "mug", "limit": 6}, format="multipart").json()
    assert body["close_match"] is False and body["fallback"] == "keyword" and len(body["results"]) == 6
    assert body["alternatives"] and all("Mug" in hit["product"]["title"] for hit in body["alternatives"])
