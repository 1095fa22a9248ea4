"""SKU matches and word hits of the keyword leg (search/services/keywords.py), on a few products of their own."""

from __future__ import annotations

import pytest

from catalog.models import Product
from catalog.services import product_upsert
from search.services.keywords import TIER_EVERY_WORD, SkuMatches, keyword_hits, sku_matches
from search.services.product_search import SearchFilters, product_filter_build
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_sku_matches_give_the_exact_match_first_then_prefixes_shortest_first():
    for sku in ["AB", "ABC", "abc-10", "ABC-1", "ABD", "AXC-2"]:
        product_upsert(sku=sku, title=f"Product {sku}", in_stock=sku != "ABC")
    ids = dict(Product.objects.values_list("sku", "pk"))
    everything = product_filter_build(SearchFilters())

    assert sku_matches(" abc ", everything, limit=10) == SkuMatches(
        ids["ABC"], [ids["ABC"], ids["ABC-1"], ids["abc-10"]]
    )
    assert sku_matches("ABC-", everything, limit=10) == SkuMatches(None, [ids["ABC-1"], ids["abc-10"]])
    assert sku_matches("abc", everything, limit=2) == SkuMatches(ids["ABC"], [ids["ABC"], ids["ABC-1"]])
    # Too short for prefixes, but an exact match still counts; several words are no SKU.
    assert sku_matches("ab", everything, limit=10) == SkuMatches(ids["AB"], [])
    assert sku_matches("ABC 1", everything, limit=10) == SkuMatches(None, [])
    # LIKE's wildcards in the text are plain characters.
    assert sku_matches("A_C", everything, limit=10) == SkuMatches(None, [])
    # The filter applies to both.
    in_stock = product_filter_build(SearchFilters(in_stock=True))
    assert sku_matches("abc", in_stock, limit=10) == SkuMatches(None, [ids["ABC-1"], ids["abc-10"]])


def test_words_shorter_than_three_letters_match_whole_words_only():
    # "b" as a prefix matched most of a catalog (250 ms); as a word it matches only "b" itself.
    product_upsert(sku="K-1", title="Blue bag", brand="Bolt")
    product_upsert(sku="K-2", title="Black boot")
    product_upsert(sku="K-3", title="Plan B tote")
    ids = dict(Product.objects.values_list("sku", "pk"))
    everything = product_filter_build(SearchFilters())
    assert [hit.product_id for hit in keyword_hits(["b"], everything, limit=10)] == [ids["K-3"]]
    assert {hit.product_id for hit in keyword_hits(["bl"], everything, limit=10)} == set()
    assert {hit.product_id for hit in keyword_hits(["bla"], everything, limit=10)} == {ids["K-2"]}
    assert {hit.product_id for hit in keyword_hits(["bag"], everything, limit=10)} == {ids["K-1"]}


def test_at_most_ten_attribute_filters():
    from search.services.product_search import SearchError

    ten = {f"a{n}": "x" for n in range(10)}
    product_filter_build(SearchFilters(attributes=ten))
    with pytest.raises(SearchError, match="At most 10 attribute filters"):
        product_filter_build(SearchFilters(attributes={**ten, "a10": "x"}))


def test_hits_come_in_tier_order_whatever_the_limit():
    # The statement ranks only the products whose tier can make the limit (keywords._hits_sql):
    # each limit must give the first hits of the full order. Every word ("red" and "scarf"), some
    # of them, a value named whole (the colour "Red").
    rows = [
        ("T-1", "Red wool scarf", {"colour": "Red"}),
        ("T-2", "Silk scarf in red and gold", {"colour": "Gold"}),
        ("T-3", "Red scarf", {"colour": "Red"}),
        ("T-4", "Red gloves", {"colour": "Red"}),
        ("T-5", "Blue scarf", {"colour": "Blue"}),
        ("T-6", "Red red hat", {}),
        ("T-7", "Scarf", {}),
    ]
    for sku, title, attributes in rows:
        ProductFactory(sku=sku, title=title, attributes=attributes)
    ProductFactory(sku="T-8", title="Red scarf, withdrawn", is_active=False)
    ids = {pk: sku for sku, pk in Product.objects.values_list("sku", "pk")}
    everything = product_filter_build(SearchFilters())
    hits = keyword_hits(["red", "scarf"], everything, limit=100)
    assert [ids[hit.product_id] for hit in hits[:3]] in (["T-1", "T-3", "T-2"], ["T-3", "T-1", "T-2"])
    assert {ids[hit.product_id] for hit in hits[3:]} == {"T-4", "T-5", "T-6", "T-7"}
    assert [hit.tier for hit in hits] == [TIER_EVERY_WORD + 1] * 2 + [TIER_EVERY_WORD, 1, 0, 0, 0]
    order = [(-hit.tier, -hit.rank, hit.product_id) for hit in hits]
    assert order == sorted(order)
    for limit in range(1, len(hits) + 1):
        assert keyword_hits(["red", "scarf"], everything, limit=limit) == hits[:limit], limit
