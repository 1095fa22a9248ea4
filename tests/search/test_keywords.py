"""SKU matches of the keyword leg (search/services/keywords.py), on a few products of their own."""

from __future__ import annotations

import pytest

from catalog.models import Product
from catalog.services import product_upsert
from search.services.keywords import SkuMatches, sku_matches
from search.services.product_search import SearchFilters, product_filter_build

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
    from search.services.keywords import keyword_hits

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
