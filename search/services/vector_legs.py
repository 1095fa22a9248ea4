"""Vector legs of search: choosing HNSW or an exact scan and grouping image rows by product. The
SQL itself is in search/vector_store.py.

Why the choice matters (measured, docs/adr/0005-filtered-vector-search.md): with a selective
filter the planner still picks the HNSW index, which then returns almost nothing. So the
service estimates the filtered row count and scans exactly when it is at most
SEARCH_EXACT_SCAN_MAX_ROWS or at most SEARCH_EXACT_SCAN_MAX_SHARE of the model's vectors, and
falls back to an exact scan whenever an HNSW scan comes back short.
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
    image_vector_counts,
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
    if exact_scan_chosen(model, kind, product_filter):
        return neighbours_exact(model, kind, vector, limit=limit, product_filter=product_filter)
    rows = neighbours_hnsw(model, kind, vector, limit=limit, product_filter=product_filter)
    if len(rows) < limit:
        # The index scan gave up (max_scan_tuples) or the estimate was wrong: only an exact
        # scan can tell "fewer exist" from "not found".
        return neighbours_exact(model, kind, vector, limit=limit, product_filter=product_filter)
    return rows


def exact_scan_chosen(model: EmbeddingModel, kind: str, product_filter: ProductFilter) -> bool:
    """Whether the filter is selective enough for an exact scan: the planner expects it to keep at
    most SEARCH_EXACT_SCAN_MAX_ROWS of the model's vector rows, or at most
    SEARCH_EXACT_SCAN_MAX_SHARE of them. The index's cost grows with the share a filter leaves out
    (an iterative scan walks past the rows that fail), the exact scan's with the rows it keeps, so
    the row count alone chose the index for a 1% filter at 1,000,000 vectors (docs/adr/0005). The
    model's own count is asked only when the row count alone does not decide."""
    if product_filter.broad:
        return False
    rows = filtered_rows_estimate(model, kind, product_filter)
    if rows <= int(search_setting("SEARCH_EXACT_SCAN_MAX_ROWS")):
        return True
    share = float(search_setting("SEARCH_EXACT_SCAN_MAX_SHARE"))
    return share > 0 and rows <= share * filtered_rows_estimate(model, kind, None)


def products_nearest(
    model: EmbeddingModel,
    kind: str,
    vector: np.ndarray,
    *,
    products: int,
    product_filter: ProductFilter,
    best_images: int = 1,
) -> list[ProductMatch]:
    """The ``products`` nearest products, each once, with its best-matching image. With
    ``best_images`` above 1 (image vectors), a product ranks by the mean distance of its best that
    many images (or of all it has, when fewer): one lucky image counts less than several close ones."""
    if kind == "product":
        rows = neighbours(model, kind, vector, limit=products, product_filter=product_filter)
        return [ProductMatch(row.product_id, row.distance, None) for row in rows]
    most = max(int(search_setting("SEARCH_VECTOR_MAX_ROWS")), products)
    fetch = min(products * IMAGE_FANOUT * max(1, best_images), most)
    while True:
        rows = neighbours(model, "image", vector, limit=fetch, product_filter=product_filter)
        every_row = len(rows) < fetch
        matches = _group_by_product(rows)
        # Fewer rows than asked for means there are no more; otherwise ask deeper until enough
        # distinct products turn up, but never beyond SEARCH_VECTOR_MAX_ROWS rows (a catalog
        # of products with hundreds of images each would otherwise read its whole index).
        if len(matches) >= products or every_row or fetch >= most:
            if best_images > 1:
                matches = _rank_by_best_images(
                    model, rows, matches, best_images, every_row=every_row, excluded=product_filter.images_excluded
                )
            return matches[:products]
        fetch = min(fetch * 2, most)


def _group_by_product(rows: list[Neighbour]) -> list[ProductMatch]:
    best: dict[int, ProductMatch] = {}
    for row in rows:  # nearest first: the first row of a product is its best image
        if row.product_id not in best:
            best[row.product_id] = ProductMatch(row.product_id, row.distance, row.item_id)
    return list(best.values())


def _rank_by_best_images(
    model: EmbeddingModel,
    rows: list[Neighbour],
    matches: list[ProductMatch],
    best_images: int,
    *,
    every_row: bool,
    excluded: tuple[int, ...] = (),
) -> list[ProductMatch]:
    """``matches`` (each product's best image, nearest first) ordered by the mean distance of each
    product's best ``best_images`` images. An image the rows did not reach is at least as far as
    the last row, so it counts at that distance: products the rows did not reach at all score no
    better than that either, and the order among the ones returned is the true one."""
    distances: dict[int, list[float]] = {}
    for row in rows:
        distances.setdefault(row.product_id, []).append(row.distance)
    counts = {} if every_row else image_vector_counts(model, list(distances), images_excluded=excluded)
    beyond = rows[-1].distance if rows else 0.0

    def score(match: ProductMatch) -> tuple[float, float, int]:
        found = distances[match.product_id][:best_images]
        wanted = min(best_images, max(counts.get(match.product_id, len(found)), len(found)))
        mean = (sum(found) + (wanted - len(found)) * beyond) / wanted
        return mean, match.distance, match.product_id

    return sorted(matches, key=score)
