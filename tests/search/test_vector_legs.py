"""search/services/vector_legs.py: how deep a photo leg reads when products have many images.

The rows come from a stand-in for the vector SQL (search/vector_store.py is tested against
Postgres elsewhere): a catalog where the nearest rows are all images of a few products, the case
in which the leg asks deeper and deeper for enough distinct products."""

from __future__ import annotations

import numpy as np

from search.services import vector_legs
from search.vector_store import Neighbour


def test_a_leg_reads_at_most_vector_max_rows(monkeypatch, settings):
    settings.SNAPSHELF_SEARCH_VECTOR_MAX_ROWS = 64
    asked: list[int] = []

    def three_products_with_endless_images(model, kind, vector, *, limit, product_filter):
        asked.append(limit)
        assert len(asked) < 20, "the leg kept asking deeper"  # before the cap it never stopped
        return [Neighbour(item_id=n, product_id=n % 3, distance=n / 10_000) for n in range(limit)]

    monkeypatch.setattr(vector_legs, "neighbours", three_products_with_endless_images)
    matches = vector_legs.products_nearest(None, "image", np.zeros(4), products=10, product_filter=None)  # type: ignore[arg-type]
    assert asked == [20, 40, 64]  # doubling from 2 rows a product, stopped at the cap
    assert [match.product_id for match in matches] == [0, 1, 2]  # what there is within the cap
