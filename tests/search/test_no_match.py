"""The "no close match" threshold: calibrated per model on shopper-like copies of the catalog's own
photos, stored with the model, redone when due, shown in the admin; and a photo search that is
not close still shows the nearest products."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from catalog.models import Product
from search.embedders.registry import embedder_get
from search.models import NoMatchCalibration
from search.services.no_match import (
    close_match,
    kind_score,
    match_distance,
    no_match_calibration_due,
    no_match_distance,
)
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
    assert calibration.model.status == "active" and calibration.keep_share == 0.995
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


def test_the_kind_check_is_calibrated_on_the_catalogs_words(demo_index):
    calibration = NoMatchCalibration.objects.get(model=demo_index)
    assert calibration.kind_space == "imagenet-wordnet-v2"
    descriptions = embedder_get(demo_index.name).kind_descriptions()
    relevance = np.array(calibration.kind_relevance)
    assert len(relevance) == len(descriptions) == 1000

    def kind(lemma: str) -> float:
        return relevance[
            next(
                i for i, text in enumerate(descriptions) if text.startswith(f"{lemma},") or text.startswith(f"{lemma}:")
            )
        ]

    # Ranks: each kind's place among the 1,000, from 0 (the least relevant) up.
    np.testing.assert_array_equal(np.sort(relevance), np.arange(1000) / 1000)
    # The demo shop sells mugs, lamps, backpacks, socks: kinds its product texts and category paths
    # name rank in the top tenth; a fish and a volcano, like most of the 1,000 kinds, do not.
    sold = [kind(name) for name in ("table lamp", "coffee mug", "backpack", "sock")]
    unsold = [kind(name) for name in ("tench", "volcano")]
    assert min(sold) >= 0.9 and max(unsold) < 0.75, (sold, unsold)
    # The threshold keeps 98% of the sampled catalog photos' kind scores; the gate is the median
    # of the positives' match distances.
    kinds, matches = calibration.kind_quantiles, calibration.match_quantiles
    assert kinds["0.01"] - 1e-4 <= calibration.kind_threshold <= kinds["0.05"] + 1e-4  # quantiles kept to 4 places
    assert calibration.kind_gate == pytest.approx(matches["0.5"], abs=1e-4)
    NoMatchCalibration.objects.filter(pk=calibration.pk).update(kind_space="")
    assert no_match_calibration_due(demo_index)  # made without the model's kind space: due again


def test_beyond_the_gate_a_photo_whose_kinds_are_not_the_catalogs_is_flagged(demo_index):
    lamp = demo_photo("DEMO-TABLE-LAMP-RED")
    result = product_search(SearchQuery(image=lamp, limit=3))
    assert result.close_match
    image_ids = [hit.matched_image.pk for hit in result.hits]
    embedder = embedder_get(demo_index.name)
    vector = embedder.embed_query_images([lamp])[0]
    score = kind_score(demo_index, embedder, vector)
    distance = match_distance(demo_index, embedder.match_vectors, vector, image_ids)
    calibrations = NoMatchCalibration.objects.filter(model=demo_index)
    assert distance <= calibrations.get().match_threshold and 0 < score < 1
    # Within the gate the kinds are not asked, however unlike the catalog's.
    calibrations.update(kind_gate=distance + 0.01, kind_threshold=score + 0.01)
    assert close_match(demo_index, vector, image_ids)
    # Beyond it: flagged when the photo's kind score is under the threshold, not when over.
    calibrations.update(kind_gate=distance - 0.01)
    assert not close_match(demo_index, vector, image_ids)
    assert not product_search(SearchQuery(image=lamp, limit=3)).close_match
    calibrations.update(kind_threshold=score - 0.01)
    assert close_match(demo_index, vector, image_ids)
    # A kind threshold calibrated in another kind space decides nothing.
    calibrations.update(kind_threshold=score + 0.01, kind_space="another-space-v0")
    assert close_match(demo_index, vector, image_ids)


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
