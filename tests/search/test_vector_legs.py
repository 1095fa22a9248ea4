"""search/services/vector_legs.py: how deep a photo leg reads when products have many images.

The rows come from a stand-in for the vector SQL (search/vector_store.py is tested against
Postgres elsewhere): a catalog where the nearest rows are all images of a few products, the case
in which the leg asks deeper and deeper for enough distinct products."""

from __future__ import annotations

import numpy as np

from search.services import vector_legs
from search.vector_store import Neighbour, ProductFilter

# The stand-in neighbours below ignore the filter; a leg still reads what it excludes.
ANY_PRODUCT = ProductFilter("SELECT id FROM catalog_product", ())


def test_a_leg_reads_at_most_vector_max_rows(monkeypatch, settings):
    settings.SNAPSHELF_SEARCH_VECTOR_MAX_ROWS = 64
    asked: list[int] = []

    def three_products_with_endless_images(model, kind, vector, *, limit, product_filter):
        asked.append(limit)
        assert len(asked) < 20, "the leg kept asking deeper"  # before the cap it never stopped
        return [Neighbour(item_id=n, product_id=n % 3, distance=n / 10_000) for n in range(limit)]

    monkeypatch.setattr(vector_legs, "neighbours", three_products_with_endless_images)
    matches = vector_legs.products_nearest(None, "image", np.zeros(4), products=10, product_filter=ANY_PRODUCT)  # type: ignore[arg-type]
    assert asked == [20, 40, 64]  # doubling from 2 rows a product, stopped at the cap
    assert [match.product_id for match in matches] == [0, 1, 2]  # what there is within the cap


def test_products_rank_by_their_best_images_and_unread_images_count_as_far_as_the_last_row(monkeypatch, settings):
    settings.SNAPSHELF_SEARCH_VECTOR_MAX_ROWS = 6  # the leg reads these 6 rows and no deeper
    # a: one image; b: three close ones; c: one close image and four the rows did not reach; d: one far.
    rows = [(1, "a", 0.10), (2, "c", 0.11), (3, "b", 0.12), (4, "b", 0.13), (5, "b", 0.14), (6, "d", 0.16)]
    ids = {"a": 1, "b": 2, "c": 3, "d": 4}
    counts = {1: 1, 2: 3, 3: 5, 4: 1}

    def nearest_rows(model, kind, vector, *, limit, product_filter):
        return [Neighbour(item_id=item, product_id=ids[product], distance=d) for item, product, d in rows][:limit]

    monkeypatch.setattr(vector_legs, "neighbours", nearest_rows)
    monkeypatch.setattr(
        vector_legs, "image_vector_counts", lambda model, products, images_excluded=(): {p: counts[p] for p in products}
    )

    def ranked(best_images: int, products: int = 4) -> list[tuple[int, float, int | None]]:
        matches = vector_legs.products_nearest(
            None,  # type: ignore[arg-type]
            "image", np.zeros(4), products=products, product_filter=ANY_PRODUCT, best_images=best_images,
        )  # fmt: skip
        return [(m.product_id, m.distance, m.image_id) for m in matches]

    assert ranked(1) == [(1, 0.10, 1), (3, 0.11, 2), (2, 0.12, 3), (4, 0.16, 6)]
    # b: (0.12 + 0.13 + 0.14) / 3 = 0.13; c: (0.11 + 2 x 0.16) / 3 = 0.143; each keeps its best image.
    assert ranked(3) == [(1, 0.10, 1), (2, 0.12, 3), (3, 0.11, 2), (4, 0.16, 6)]
    assert ranked(3, products=2) == [(1, 0.10, 1), (2, 0.12, 3)]
