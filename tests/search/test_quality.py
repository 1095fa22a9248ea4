"""The quality regression test: a reduced run of benchmarks/quality.py through the search service.

Each data set is imported and indexed with the offline preset (the normal import and indexing
path), queried through ``product_search`` / ``products_similar``, and each figure must stay above
a floor a few points under what this reduced run measured when the floor was set (docs/quality.md).
A change that hurts search results fails here. Skips only when ../shared/datasets is absent.
"""

from __future__ import annotations

import dataclasses

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
    # 0.95 with the kind check as ranks (ADR 0013 amendment 2; 0.875 with a 600-photo sample; 0.975-1.00
    # with its first rule; 40 photos; 0.95 with the match distance alone, 0.375 with the search distance)
    "fashion catalog: grocery photos flagged": 0.90,
}
GROCERY_FLOORS = {
    "grocery val one photo R@1": 0.29,  # measured 0.34
    "grocery val one photo R@5": 0.66,  # 0.72
    "grocery val with train photos R@1": 0.45,  # 0.50 (3 train photos per product, best 3 images; was 0.44)
    "grocery val with train photos R@5": 0.80,  # 0.85
    # 1.00 with the kind check (40 photos; 0.30 with the match distance alone, ADR 0013).
    "grocery catalog: fashion photos flagged": 0.90,
    # 1.00 (the same products' photos as the data set has them, no copy made; 0.875 with the kind
    # check's first rule, 0.55 before it).
    "grocery catalog: fashion photos as shot flagged": 0.80,
    # 0.75: the threshold kept by the shop's own photos (3 train photos per product, search-only):
    # 99.5% of 243 shop photos is their second-largest distance (0.95 at 99%, docs/quality.md).
    "grocery catalog with train photos: fashion photos flagged": 0.65,
}


# In-catalog photos answered "no exact match": at most this share (issue 11: 2% fashion, 5% grocery;
# a few points of room for 100 queries). Measured by this reduced run as commented.
# measured 0.01 with the kind check as ranks and a 99.5% threshold (0.02 with its first rule; 0.03
# twice with that rule and a 600-photo sample; 0.00 before the kind check)
FASHION_CEILINGS = {"fashion shopper flagged": 0.05}
GROCERY_CEILINGS = {
    "grocery val one photo flagged": 0.07,  # measured 0.03 (0.00 with the kind check's first rule)
    "grocery val with train photos flagged": 0.07,  # 0.00 (threshold from the shop photos; 0.02 at 99%)
}


# Issue 14: the grocery run then tunes the model to the shop on its (3 per product) train photos,
# as search_model tune does (a fifth of them held out for the gate), and asks the val photos again.
GROCERY_TUNED = dataclasses.replace(REDUCED, tune=True, tune_gate_sample=40)
GROCERY_TUNED_FLOORS = {
    # Measured by this reduced run on 2026-12-01 (tuned on 81 catalog and 197 train photos, 46 held
    # out; frozen 0.34 / 0.72), less 5-6 points. The held-out photos were drawn by product id until
    # then, so a database whose ids a test suite had used up held out others and trained another
    # adapter: R@1 0.50-0.56 and R@5 0.80-0.88 between a fresh test database and the whole suite.
    # Drawn by SKU and image bytes now (search/services/tuning.py), the same in any database.
    "grocery val one photo (tuned) R@1": 0.45,  # measured 0.51
    "grocery val one photo (tuned) R@5": 0.78,  # 0.83
    # The tuned model judges "no exact match" in its base model's classifier space (the adapter
    # inverted, search/embedders/adapter.py). 0.40 and 1.00 (40 photos; the frozen model 0.75 and
    # 1.00 on the same catalogs); the whole benchmark, 0.963 and 0.970 (docs/quality.md).
    "grocery catalog with train photos (tuned): fashion photos flagged": 0.30,
    "grocery catalog (tuned): fashion photos flagged": 0.90,
}
# Measured 0.00 and 0.03 (the whole benchmark: 0.007 and 0.024; 0.199 and 0.564 when the tuned
# model judged in its own search space, which gathers every photo of a product tightly).
GROCERY_TUNED_CEILINGS = {
    "grocery val with train photos (tuned) flagged": 0.07,
    "grocery val one photo (tuned) flagged": 0.07,
}


def _run(run, options, tmp_path_factory, django_db_blocker, name):  # type: ignore[no-untyped-def]
    dataset_folder("fashion")
    dataset_folder("grocery")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=tmp_path_factory.mktemp(f"quality-{name}")):
        cache.clear()
        embedder_clear_cache()
        try:
            result = run(options)
            print(f"\n{name}: {result['service']}")  # the figures behind the floors (pytest -s shows them)
            return result
        finally:
            catalog_delete()


@pytest.fixture(scope="module")
def fashion_figures(django_db_setup, django_db_blocker, tmp_path_factory):
    return _run(fashion_run, REDUCED, tmp_path_factory, django_db_blocker, "fashion")["service"]


@pytest.fixture(scope="module")
def grocery_result(django_db_setup, django_db_blocker, tmp_path_factory):
    return _run(grocery_run, GROCERY_TUNED, tmp_path_factory, django_db_blocker, "grocery")


@pytest.fixture(scope="module")
def grocery_figures(grocery_result):
    return grocery_result["service"]


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


@pytest.mark.parametrize("figure", sorted(GROCERY_TUNED_FLOORS))
def test_the_grocery_model_tuned_to_the_shop_stays_above_its_floor(grocery_figures, figure):
    assert grocery_figures[figure] >= GROCERY_TUNED_FLOORS[figure], grocery_figures


def test_the_grocery_tunes_gate_judged_on_held_out_shop_photos(grocery_result):
    tuned = grocery_result["tuned"]
    held_out = tuned["training"]["held_out_images"]
    assert len(held_out) >= 20 and f"held-out shop photos (of {len(held_out)} search-only photos" in tuned["gate"]
    # The tuned model is better on the held-out train photos too: the gate activated it.
    assert tuned["activated_by"] == "gate", tuned["gate"]


@pytest.mark.parametrize("figure", sorted(GROCERY_TUNED_CEILINGS))
def test_the_tuned_models_in_catalog_photos_are_rarely_flagged(grocery_figures, figure):
    assert grocery_figures[figure] <= GROCERY_TUNED_CEILINGS[figure], grocery_figures
