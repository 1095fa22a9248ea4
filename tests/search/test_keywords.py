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
