"""The search service on the demo catalog, indexed by the offline preset (real weights)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import ImageOps

from catalog.models import Category, Product
from catalog.services import product_image_add, product_upsert
from search.services import vector_legs
from search.services.keywords import words_correct
from search.services.product_search import (
    SearchError,
    SearchFilters,
    SearchQuery,
    product_search,
    products_similar,
)
from tests.search.search_fixtures import demo_photo, demo_photo_bytes


@pytest.fixture
def media_root(demo_media_root):
    """The demo index's files (tests/search/conftest.py)."""
    return demo_media_root


pytestmark = pytest.mark.django_db


def skus(result) -> list[str]:
    return [hit.product.sku for hit in result.hits]


def test_photo_finds_its_product_first_each_product_once(demo_index):
    result = product_search(SearchQuery(image=demo_photo("DEMO-MUG-RED"), limit=10))
    assert skus(result)[0] == "DEMO-MUG-RED"
    assert len(set(skus(result))) == len(result.hits) == 10
    first = result.hits[0]
    assert first.matched_image == first.product.images.first()
    assert first.distance is not None and first.distance < 0.05
    assert result.close_match and result.image_token and result.has_more
    assert any("looks alike" in reason for reason in first.reasons)


def test_cropped_and_rotated_photos_still_find_the_product(demo_index):
    photo = demo_photo("DEMO-BACKPACK-GREEN")
    cropped = photo.crop((60, 20, 400, 420))
    rotated = photo.rotate(20, expand=True, fillcolor=(248, 248, 246))
    for query in (cropped, rotated, ImageOps.mirror(photo)):
        assert "DEMO-BACKPACK-GREEN" in skus(product_search(SearchQuery(image=query, limit=3)))


def test_pages_reuse_the_token_and_do_not_overlap(demo_index):
    first = product_search(SearchQuery(image=demo_photo("DEMO-CAP-BLUE"), limit=8))
    second = product_search(SearchQuery(image_token=first.image_token, limit=8, offset=8))
    assert second.image_token == first.image_token
    assert len(second.hits) == 8 and not set(skus(first)) & set(skus(second))
    everything = product_search(SearchQuery(image_token=first.image_token, limit=16))
    assert skus(everything) == skus(first) + skus(second)


def test_filters_apply_to_photo_search_and_fill_the_page(demo_index):
    kitchen = Category.objects.get(name="Kitchen")  # mugs and bottles: 16 products
    filters = SearchFilters(category=kitchen, in_stock=True, price_max=Decimal("12.00"))
    wanted = {
        p.sku for p in Product.objects.filter(category__parent=kitchen, in_stock=True, price__lte=Decimal("12.00"))
    }
    result = product_search(SearchQuery(image=demo_photo("DEMO-SNEAKER-RED"), filters=filters, limit=50))
    assert set(skus(result)) == wanted and not result.has_more
    by_colour = product_search(
        SearchQuery(image=demo_photo("DEMO-MUG-RED"), filters=SearchFilters(attributes={"colour": "BLUE"}), limit=8)
    )
    assert len(by_colour.hits) == 8 and all(hit.product.attributes["colour"] == "blue" for hit in by_colour.hits)
    assert skus(by_colour)[0] == "DEMO-MUG-BLUE"


def test_text_search_ranks_the_words_first(demo_index):
    result = product_search(SearchQuery(text="red mug", limit=5))
    assert skus(result)[0] == "DEMO-MUG-RED"
    assert "words match" in result.hits[0].reasons
    plural = product_search(SearchQuery(text="yellow backpacks", limit=3))
    assert skus(plural)[0] == "DEMO-BACKPACK-YELLOW"


def test_exact_sku_ranks_first_and_prefix_finds_the_family(demo_index):
    exact = product_search(SearchQuery(text="demo-table-lamp-purple", limit=5))
    assert skus(exact)[0] == "DEMO-TABLE-LAMP-PURPLE"
    prefix = product_search(SearchQuery(text="DEMO-SOCK", limit=8))
    assert sorted(skus(prefix)) == sorted(p.sku for p in Product.objects.filter(sku__startswith="DEMO-SOCK"))


def test_typos_are_corrected_against_the_catalog(demo_index):
    assert words_correct(["purpel", "backpak", "red", "xqzvw"]) == ["purple", "backpack", "red", "xqzvw"]
    result = product_search(SearchQuery(text="purpel backpak", limit=3))
    assert skus(result)[0] == "DEMO-BACKPACK-PURPLE" and result.corrected_text


def test_category_alone_browses_and_empty_queries_are_refused(demo_index):
    bags = Category.objects.get(name="Bags")
    result = product_search(SearchQuery(filters=SearchFilters(category=bags), limit=50))
    assert len(result.hits) == 8 and all("Backpack" in hit.product.title for hit in result.hits)
    for bad in (SearchQuery(text="   "), SearchQuery(image_token="not-a-token"), SearchQuery(text="x", limit=0)):
        with pytest.raises(SearchError):
            product_search(bad)
    with pytest.raises(SearchError, match="expired"):
        product_search(SearchQuery(image_token="A" * 24))


def test_similar_products_leave_out_the_product_and_its_duplicates(demo_index):
    original = Product.objects.get(sku="DEMO-STRIPED-SHIRT-GREEN")
    copy, _ = product_upsert(sku="COPY-SHIRT", title="Relisted shirt")
    product_image_add(product=copy, data=demo_photo_bytes("DEMO-STRIPED-SHIRT-GREEN"))
    similar = products_similar(original, limit=6)
    found = [hit.product.sku for hit in similar]
    assert len(found) == 6 and "DEMO-STRIPED-SHIRT-GREEN" not in found and "COPY-SHIRT" not in found
    assert all(hit.matched_image is not None and hit.distance is not None for hit in similar)
    assert sum("Shirt" in sku.title() for sku in found) >= 3


def test_a_wrong_planner_estimate_keeps_results_whole(demo_index, monkeypatch):
    def explains(query: SearchQuery) -> int:
        with CaptureQueriesContext(connection) as queries:
            product_search(query)
        return sum(q["sql"].startswith("EXPLAIN") for q in queries.captured_queries)

    mugs = SearchQuery(image=demo_photo("DEMO-MUG-RED"), limit=5, filters=SearchFilters(price_max=Decimal("20")))
    assert explains(mugs) == 1  # one vector leg, one estimate, asked every time
    assert explains(mugs) == 1
    # A wrong estimate ("plenty of rows") sends the search down the HNSW path; its short answer
    # falls back to an exact scan, so the results are the same.
    exact = skus(product_search(mugs))
    monkeypatch.setattr(vector_legs, "filtered_rows_estimate", lambda *args: 10**9)
    assert skus(product_search(mugs)) == exact
