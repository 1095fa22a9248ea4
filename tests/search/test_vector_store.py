"""search/vector_store.py against Postgres: index precisions (vector, halfvec, bit with
re-ranking), the statements a leg sends, and filtered legs against exact answers from numpy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from catalog.models import Category, Product, ProductImage
from search.models import EmbeddingModel, ImageEmbedding
from search.services.product_search import SearchFilters, product_filter_build
from search.services.vector_legs import neighbours, products_nearest
from search.vector_store import (
    _vector_cursor,
    hnsw_index_names_present,
    hnsw_indexes_create,
    hnsw_indexes_rebuild,
    index_precision_configured,
    neighbours_exact,
    neighbours_hnsw,
)

pytestmark = pytest.mark.django_db
DIM = 16
ROWS = 300


@pytest.fixture
def vectors_model():
    """ROWS products with one image vector each (random unit vectors); every tenth product is in
    category "Tenth", costs 1.00 and is out of stock, every other one has brand "Half"."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(ROWS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    tenth = Category.objects.create(name="Tenth", slug="tenth")
    products = Product.objects.bulk_create(
        Product(
            sku=f"VS-{i}", title=f"Vector {i}", price=Decimal("1.00" if i % 10 == 0 else "50.00"),
            category=tenth if i % 10 == 0 else None, in_stock=i % 10 != 0, brand="Half" if i % 2 else "Other",
            attributes={"colour": "Red" if i % 4 == 0 else "blue"},
        )
        for i in range(ROWS)
    )  # fmt: skip
    images = ProductImage.objects.bulk_create(
        ProductImage(product=product, file="x.png", sha256=f"{i:064d}") for i, product in enumerate(products)
    )
    model = EmbeddingModel.objects.create(
        name="vectors", model_id="vectors-test", image_dim=DIM, text_dim=DIM, shared_space=False, status="retired"
    )
    ImageEmbedding.objects.bulk_create(
        ImageEmbedding(model=model, image=image, product_id=image.product_id, embedding=vector, status="ready")
        for image, vector in zip(images, vectors, strict=True)
    )
    model.vectors = vectors
    model.products = np.array([p.pk for p in products])
    return model


def exact_products(model: Any, query: np.ndarray, mask: np.ndarray | None = None, k: int = 10) -> list[int]:
    distances = 1 - model.vectors @ query
    rows = np.flatnonzero(mask) if mask is not None else np.arange(ROWS)
    return [int(model.products[row]) for row in rows[np.argsort(distances[rows], kind="stable")][:k]]


@pytest.mark.parametrize("precision", ["vector", "halfvec", "bit"])
def test_each_precision_is_used_for_the_model_and_answers_like_an_exact_scan(vectors_model, settings, precision):
    settings.SNAPSHELF_INDEX_PRECISION_BY_MODEL = {"vectors": precision}
    hnsw_indexes_create(vectors_model)
    assert vectors_model.index_precision == precision
    suffix = {"vector": "", "halfvec": "_half", "bit": "_bit"}[precision]
    assert f"search_image_hnsw_{vectors_model.pk}{suffix}" in hnsw_index_names_present(vectors_model)
    query = vectors_model.vectors[7]
    found = neighbours_hnsw(vectors_model, "image", query, limit=10)
    exact = neighbours_exact(vectors_model, "image", query, limit=10)
    assert [n.product_id for n in exact] == exact_products(vectors_model, query)
    # 300 rows: the index finds them all (bit: 200 candidates re-ranked, nearly every row).
    assert len({n.product_id for n in found} & {n.product_id for n in exact}) >= 9
    tolerance = 1e-3 if precision == "halfvec" else 1e-5  # bit: re-ranked by full-precision distance
    exact_distance = {n.product_id: n.distance for n in exact}
    shared = [n for n in found if n.product_id in exact_distance]
    assert all(abs(n.distance - exact_distance[n.product_id]) < tolerance for n in shared)
    assert _plan_of_hnsw_read(vectors_model, query).count(f"search_image_hnsw_{vectors_model.pk}{suffix}") == 1


def _plan_of_hnsw_read(model: EmbeddingModel, query: np.ndarray) -> str:
    """EXPLAIN of the statement neighbours_hnsw sends, as it sends it (binary vector parameters)."""
    sent: list[tuple[str, Any]] = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        neighbours_hnsw(model, "image", query, limit=5)
    sql, params = sent[-1]
    with connection.cursor() as cursor:
        # A table this small could be read through a btree and sorted; the question is whether
        # the model's HNSW index can serve the statement.
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
    with _vector_cursor(prepare=False) as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_reindex_to_bit_keeps_search_answering(vectors_model, settings):
    settings.SNAPSHELF_INDEX_PRECISION = "halfvec"
    hnsw_indexes_create(vectors_model)
    query = vectors_model.vectors[11]
    before = [n.product_id for n in neighbours_hnsw(vectors_model, "image", query, limit=5)]
    settings.SNAPSHELF_INDEX_PRECISION_BY_MODEL = {"vectors": "bit"}
    hnsw_indexes_rebuild(vectors_model)
    assert vectors_model.index_precision == "bit"
    assert hnsw_index_names_present(vectors_model) == [
        f"search_image_hnsw_{vectors_model.pk}_bit",
        f"search_product_hnsw_{vectors_model.pk}_bit",
    ]
    assert [n.product_id for n in neighbours_hnsw(vectors_model, "image", query, limit=5)] == before


def test_unknown_precision_is_refused_with_its_name(vectors_model, settings):
    settings.SNAPSHELF_INDEX_PRECISION = "float8"
    with pytest.raises(ImproperlyConfigured, match="float8"):
        index_precision_configured(vectors_model)


def test_deprecated_halfvec_setting_still_chooses_where_precision_is_unset(vectors_model, settings):
    settings.SNAPSHELF_HALFVEC_INDEX = False
    assert index_precision_configured(vectors_model) == "vector"
    settings.SNAPSHELF_INDEX_PRECISION = "bit"
    assert index_precision_configured(vectors_model) == "bit"


def _statements(function) -> list[str]:
    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(sql.split()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        function()
    return sent


def test_an_unfiltered_leg_asks_the_index_without_an_estimate(vectors_model):
    hnsw_indexes_create(vectors_model)
    query = vectors_model.vectors[0]
    broad = product_filter_build(SearchFilters())
    neighbours_hnsw(vectors_model, "image", query, limit=10)  # once-per-connection reads done
    sent = _statements(lambda: products_nearest(vectors_model, "image", query, products=10, product_filter=broad))
    # Inside the test's transaction the hnsw.* settings are SET LOCAL with each query; a
    # connection outside a transaction sets them once and then sends the SELECT alone.
    assert sent == ["SET", "SELECT"]
    narrow = product_filter_build(SearchFilters(in_stock=False))
    sent = _statements(lambda: products_nearest(vectors_model, "image", query, products=10, product_filter=narrow))
    assert sent == ["EXPLAIN", "SELECT"]  # 30 rows pass: estimated, then scanned exactly


FILTERS = {
    "price": (SearchFilters(price_max=Decimal("1.00")), lambda i: i % 10 == 0),
    "category": ("tenth", lambda i: i % 10 == 0),
    "stock": (SearchFilters(in_stock=False), lambda i: i % 10 == 0),
    "brand": (SearchFilters(brand="HALF"), lambda i: i % 2 == 1),
    "colour": (SearchFilters(attributes={"colour": "red"}), lambda i: i % 4 == 0),
    "none pass": (SearchFilters(price_max=Decimal("0.50")), lambda i: False),
}


@pytest.mark.parametrize("exact_scan_max_rows", [5000, 0], ids=["estimated", "hnsw-forced"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_a_filter_never_drops_results(vectors_model, settings, name, exact_scan_max_rows):
    """Whatever path the leg takes (an exact scan of a selective filter, or the index with an
    iterative scan and the exact backstop), it returns the exact answer of the filter."""
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_ROWS = exact_scan_max_rows
    if exact_scan_max_rows == 0:
        settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_SHARE = 0  # the index path, however few rows pass
    settings.SNAPSHELF_INDEX_PRECISION = "halfvec"
    hnsw_indexes_create(vectors_model)
    filters, passes = FILTERS[name]
    if filters == "tenth":
        filters = SearchFilters(category=Category.objects.get(slug="tenth"))
    mask = np.array([passes(i) for i in range(ROWS)])
    product_filter = product_filter_build(filters)
    for row in (0, 5, 123):
        query = vectors_model.vectors[row]
        found = neighbours(vectors_model, "image", query, limit=10, product_filter=product_filter)
        expected = exact_products(vectors_model, query, mask)
        assert len(found) == len(expected)  # never fewer than pass
        overlap = len({n.product_id for n in found} & set(expected))
        assert overlap >= len(expected) - (1 if exact_scan_max_rows == 0 else 0), (name, row)


def _path(function) -> str:
    """Which path a leg took: the exact scan orders by ``distance + 0`` (no index serves it)."""
    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        function()
    reads = [sql for sql in sent if sql.startswith("SELECT") and "<=>" in sql]
    assert len(reads) == 1, reads
    return "exact" if ") + 0" in reads[0] else "hnsw"


def _analyze() -> None:
    # Fresh statistics, as autovacuum keeps them: the choice reads the planner's estimates.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
        cursor.execute("ANALYZE search_imageembedding")


def test_a_filter_keeping_a_small_share_of_the_models_vectors_is_scanned_exactly(vectors_model, settings):
    """Above SEARCH_EXACT_SCAN_MAX_ROWS a filter still takes the exact path when it keeps at most
    SEARCH_EXACT_SCAN_MAX_SHARE of the model's vectors (at 1,000,000 vectors a 1% filter keeps
    10,000 rows, and the index found 0.84 of its top 10 where the exact scan found them all);
    a filter keeping a larger share goes to the index."""
    settings.SNAPSHELF_INDEX_PRECISION = "halfvec"
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_ROWS = 10
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_SHARE = 0.2
    hnsw_indexes_create(vectors_model)
    _analyze()
    query = vectors_model.vectors[4]
    tenth = product_filter_build(SearchFilters(in_stock=False))  # 30 of the 300 rows
    half = product_filter_build(SearchFilters(brand="HALF"))  # 150 of them

    def leg(product_filter):
        return lambda: neighbours(vectors_model, "image", query, limit=10, product_filter=product_filter)

    assert _path(leg(tenth)) == "exact"
    assert _path(leg(half)) == "hnsw"
    found = neighbours(vectors_model, "image", query, limit=10, product_filter=tenth)
    assert [n.product_id for n in found] == exact_products(vectors_model, query, np.arange(ROWS) % 10 == 0)
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_SHARE = 0  # the row count alone: 30 rows > 10
    assert _path(leg(tenth)) == "hnsw"
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_ROWS = 60
    assert _path(leg(tenth)) == "exact"


def test_the_share_is_of_the_searched_models_own_vectors(vectors_model, settings):
    """Another model's vectors in the same table do not make a filter look selective: half of
    this model's rows is half, however many rows other models keep beside them."""
    settings.SNAPSHELF_INDEX_PRECISION = "halfvec"
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_ROWS = 10
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_SHARE = 0.3
    other = EmbeddingModel.objects.create(
        name="other", model_id="other-test", image_dim=DIM, text_dim=DIM, shared_space=False, status="retired"
    )
    ImageEmbedding.objects.bulk_create(
        ImageEmbedding(model=other, image=image, product_id=image.product_id, embedding=vector, status="ready")
        for image, vector in zip(
            ProductImage.objects.filter(product_id__in=vectors_model.products.tolist()).order_by("product_id"),
            vectors_model.vectors,
            strict=True,
        )
    )
    hnsw_indexes_create(vectors_model)
    _analyze()
    half = product_filter_build(SearchFilters(brand="HALF"))  # 150 of this model's 300 rows, 150 of 600 in the table
    query = vectors_model.vectors[9]
    assert _path(lambda: neighbours(vectors_model, "image", query, limit=10, product_filter=half)) == "hnsw"
    settings.SNAPSHELF_SEARCH_EXACT_SCAN_MAX_SHARE = 0.6
    assert _path(lambda: neighbours(vectors_model, "image", query, limit=10, product_filter=half)) == "exact"
