"""Filtered vector search against an exact scan, on real photos: the fashion data set (a
1,000-product slice, embedded by the offline preset) with a category filter keeping ~10%."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from catalog.importing.readers import read_fashion_csv
from catalog.importing.runner import CatalogImporter
from catalog.models import Category, Product
from catalog.selectors import category_subtree_ids
from search.models import EmbeddingModel
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import embedding_model_activate
from search.services.product_search import SearchFilters, product_filter_build
from search.services.vector_legs import products_nearest
from search.vector_store import neighbours_exact, vectors_of_images
from tests.datasets import dataset_folder
from tests.search.search_fixtures import catalog_delete

PRODUCTS = 1000  # import + offline embedding take most of this test's time on 2 cores
QUERIES = 60

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(scope="module")
def fashion_index(django_db_setup, django_db_blocker, tmp_path_factory):
    folder = dataset_folder("fashion")
    with django_db_blocker.unblock():
        from django.test import override_settings

        with override_settings(MEDIA_ROOT=str(tmp_path_factory.mktemp("fashion-media"))):
            rows = itertools.islice(read_fashion_csv(folder / "metadata.csv"), PRODUCTS)
            report = CatalogImporter(images_dir=Path(folder)).run(rows)
            assert report.created == PRODUCTS, report.failures[:3]
            embedding_model_activate("offline")
            embeddings_process_available(time_budget=900)
            yield EmbeddingModel.objects.get(status="active")
        catalog_delete()


def ten_percent_category() -> Category:
    sizes = {c: Product.objects.filter(category_id__in=category_subtree_ids(c)).count() for c in Category.objects.all()}
    return min(sizes, key=lambda c: abs(sizes[c] - PRODUCTS / 10))


def query_vectors(model: EmbeddingModel) -> list[np.ndarray]:
    # Every n-th product's photo: spread over the catalog, the same on every run.
    all_ids = list(Product.objects.order_by("pk").values_list("images__id", flat=True))
    image_ids = all_ids[:: max(1, len(all_ids) // QUERIES)][:QUERIES]
    return list(vectors_of_images(model, image_ids).values())


def test_filtered_hnsw_fills_the_page_and_agrees_with_an_exact_scan(fashion_index, settings):
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_ROWS = 0  # always the HNSW path, however small the filter
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_SHARE = 0
    category = ten_percent_category()
    matching = Product.objects.filter(category_id__in=category_subtree_ids(category)).count()
    assert 0.05 * PRODUCTS <= matching <= 0.2 * PRODUCTS
    product_filter = product_filter_build(SearchFilters(category=category))
    recalls = []
    for vector in query_vectors(fashion_index):
        found = products_nearest(fashion_index, "image", vector, products=10, product_filter=product_filter)
        exact = neighbours_exact(fashion_index, "image", vector, limit=10, product_filter=product_filter)
        assert len(found) == 10  # at least 10 products match the filter, so 10 come back
        recalls.append(len({m.product_id for m in found} & {n.product_id for n in exact}) / 10)
    assert np.mean(recalls) >= 0.95, f"filtered recall@10 {np.mean(recalls):.3f}"


def test_automatic_path_matches_the_exact_scan(fashion_index):
    product_filter = product_filter_build(SearchFilters(category=ten_percent_category(), in_stock=True))
    for vector in query_vectors(fashion_index)[:20]:
        found = products_nearest(fashion_index, "image", vector, products=10, product_filter=product_filter)
        exact = neighbours_exact(fashion_index, "image", vector, limit=10, product_filter=product_filter)
        assert [m.product_id for m in found] == [n.product_id for n in exact]
