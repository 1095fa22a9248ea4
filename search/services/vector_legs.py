"""Vector legs of search: choosing HNSW or an exact scan and grouping image rows by product. The
SQL itself is in search/vector_store.py.

Why the choice matters (measured, docs/adr/0005-filtered-vector-search.md): with a selective
filter the planner still picks the HNSW index, which then returns almost nothing. So the
service estimates the filtered row count and scans exactly below SEARCH_EXACT_SCAN_MAX_ROWS,
and falls back to an exact scan whenever an HNSW scan comes back short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search.conf import search_setting
from search.models import EmbeddingModel
from search.vector_store import (
    Neighbour,
    ProductFilter,
    filtered_rows_estimate,
    neighbours_exact,
    neighbours_hnsw,
)

# Image rows fetched per wanted product: products have a few images each.
IMAGE_FANOUT = 2


@dataclass(frozen=True)
class ProductMatch:
    product_id: int
    distance: float
    image_id: int | None  # the image that matched (image vectors)


def neighbours(
    model: EmbeddingModel, kind: str, vector: np.ndarray, *, limit: int, product_filter: ProductFilter
) -> list[Neighbour]:
    """``limit`` nearest rows that pass the filter, never fewer than exist. A broad filter (no
    shopper's filter: only inactive products left out) goes straight to the index: one statement."""
    if not product_filter.broad and (
        filtered_rows_estimate(model, kind, product_filter) <= search_setting("SEARCH_EXACT_SCAN_MAX_ROWS")
    ):
        return neighbours_exact(model, kind, vector, limit=limit, product_filter=product_filter)
    rows = neighbours_hnsw(model, kind, vector, limit=limit, product_filter=product_filter)
    if len(rows) < limit:
        # The index scan gave up (max_scan_tuples) or the estimate was wrong: only an exact
        # scan can tell "fewer exist" from "not found".
        return neighbours_exact(model, kind, vector, limit=limit, product_filter=product_filter)
    return rows


def products_nearest(
    model: EmbeddingModel, kind: str, vector: np.ndarray, *, products: int, product_filter: ProductFilter
) -> list[ProductMatch]:
    """The ``products`` nearest products, each once, with its best-matching image."""
    if kind == "product":
        rows = neighbours(model, kind, vector, limit=products, product_filter=product_filter)
        return [ProductMatch(row.product_id, row.distance, None) for row in rows]
    most = max(int(search_setting("SEARCH_VECTOR_MAX_ROWS")), products)
    fetch = min(products * IMAGE_FANOUT, most)
    while True:
        rows = neighbours(model, "image", vector, limit=fetch, product_filter=product_filter)
        matches = _group_by_product(rows)
        # Fewer rows than asked for means there are no more; otherwise ask deeper until enough
        # distinct products turn up, but never beyond SEARCH_VECTOR_MAX_ROWS rows (a catalog
        # of products with hundreds of images each would otherwise read its whole index).
        if len(matches) >= products or len(rows) < fetch or fetch >= most:
            return matches[:products]
        fetch = min(fetch * 2, most)


def _group_by_product(rows: list[Neighbour]) -> list[ProductMatch]:
    best: dict[int, ProductMatch] = {}
    for row in rows:  # nearest first: the first row of a product is its best image
        if row.product_id not in best:
            best[row.product_id] = ProductMatch(row.product_id, row.distance, row.item_id)
    return list(best.values())
