"""The quality regression test: a reduced run of benchmarks/quality.py through the search service.

Each data set is imported and indexed with the offline preset (the normal import and indexing
path), queried through ``product_search`` / ``products_similar``, and each figure must stay above
a floor a few points under what this reduced run measured when the floor was set (docs/quality.md).
A change that hurts search results fails here. Skips only when ../shared/datasets is absent.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings

from benchmarks.quality.datasets import Options
from benchmarks.quality.run_set import fashion_run, grocery_run
from search.embedders.registry import embedder_clear_cache
from tests.datasets import dataset_folder
from tests.search.search_fixtures import catalog_delete

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

REDUCED = Options(
    fashion_limit=400,
    shopper=100,
    more_like_this=60,
    words=20,  # x4 forms
    rejection=40,
    grocery_queries=100,
    train_per_product=3,
    baselines=False,
)

# Measured by this reduced run (docs/quality.md), less a few points of margin.
FASHION_FLOORS = {
    "fashion shopper R@1": 0.40,  # measured 0.45
    "fashion shopper R@10": 0.78,  # 0.83
    "fashion more-like-this P@10 type": 0.65,  # 0.692
    "fashion more-like-this P@10 type+colour": 0.17,  # 0.212
    "fashion words P@10": 0.96,  # 1.000 (0.929 before the word tiers and typo changes)
    "fashion catalog: grocery photos flagged": 0.85,  # 0.95 (40 photos; 0.375 with the search distance)
}
GROCERY_FLOORS = {
    "grocery val one photo R@1": 0.29,  # measured 0.34
    "grocery val one photo R@5": 0.66,  # 0.72
    "grocery val with train photos R@1": 0.45,  # 0.50 (3 train photos per product, best 3 images; was 0.44)
    "grocery val with train photos R@5": 0.80,  # 0.85
    # 0.30 (40 photos; the same in every run since the calibration follows the catalog and model,
    # not database ids: 0.525 and 0.30 before; issue 11's goal 0.90 is not met, docs/quality.md).
    "grocery catalog: fashion photos flagged": 0.25,
    # 0.95: the threshold kept by the shop's own photos (3 train photos per product, search-only).
    "grocery catalog with train photos: fashion photos flagged": 0.85,
}


# In-catalog photos answered "no exact match": at most this share (issue 11: 2% fashion, 5% grocery;
# a few points of room for 100 queries). Measured by this reduced run as commented.
FASHION_CEILINGS = {"fashion shopper flagged": 0.04}  # measured 0.00
GROCERY_CEILINGS = {
    "grocery val one photo flagged": 0.07,  # measured 0.02
    "grocery val with train photos flagged": 0.07,  # 0.02 (threshold from the shop photos; 0.00 before)
}


def _run(run, tmp_path_factory, django_db_blocker, name):  # type: ignore[no-untyped-def]
    dataset_folder("fashion")
    dataset_folder("grocery")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=tmp_path_factory.mktemp(f"quality-{name}")):
        cache.clear()
        embedder_clear_cache()
        try:
            figures = run(REDUCED)["service"]
            print(f"\n{name}: {figures}")  # the figures behind the floors (pytest -s shows them)
            return figures
        finally:
            catalog_delete()


@pytest.fixture(scope="module")
def fashion_figures(django_db_setup, django_db_blocker, tmp_path_factory):
    return _run(fashion_run, tmp_path_factory, django_db_blocker, "fashion")


@pytest.fixture(scope="module")
def grocery_figures(django_db_setup, django_db_blocker, tmp_path_factory):
    return _run(grocery_run, tmp_path_factory, django_db_blocker, "grocery")


@pytest.mark.parametrize("figure", sorted(FASHION_FLOORS))
def test_fashion_figures_stay_above_their_floors(fashion_figures, figure):
    assert fashion_figures[figure] >= FASHION_FLOORS[figure], fashion_figures


@pytest.mark.parametrize("figure", sorted(GROCERY_FLOORS))
def test_grocery_figures_stay_above_their_floors(grocery_figures, figure):
    assert grocery_figures[figure] >= GROCERY_FLOORS[figure], grocery_figures


@pytest.mark.parametrize("figure", sorted(FASHION_CEILINGS))
def test_fashion_in_catalog_photos_are_rarely_flagged(fashion_figures, figure):
    assert fashion_figures[figure] <= FASHION_CEILINGS[figure], fashion_figures


@pytest.mark.parametrize("figure", sorted(GROCERY_CEILINGS))
def test_grocery_in_catalog_photos_are_rarely_flagged(grocery_figures, figure):
    assert grocery_figures[figure] <= GROCERY_CEILINGS[figure], grocery_figures
