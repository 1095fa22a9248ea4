"""How relevant each kind of thing a model tells apart is to a catalog, from the similarity of the
kinds' words to the catalog's product texts: numpy only, no Django, so that the no-exact-match
calibration (search/services/no_match.py) and its replay (benchmarks/quality/no_match_replay.py)
compute it with the same code."""

from __future__ import annotations

import numpy as np

# A kind's relevance to the catalog: the mean similarity of its words to the product texts most like
# them (this share of the texts read, at least KIND_RELEVANCE_PRODUCTS_MIN), less its mean
# similarity to all of them. The share keeps one odd description from making a kind the shop's; the
# mean takes out what a kind's words share with any product text. With the 3 most alike and no
# mean, every kind found a few loosely alike texts among 5,000 fashion products, and grocery
# photos against the fashion catalog were flagged 0.73 instead of 0.87-0.89 on cached vectors
# (docs/adr/0013-no-match-kind-check.md).
KIND_RELEVANCE_SHARE = 0.02
KIND_RELEVANCE_PRODUCTS_MIN = 3


def kind_relevance(similarity: np.ndarray) -> np.ndarray:
    """Each kind's relevance from its cosine similarities to the product texts read, shape
    (kinds, texts) -> (kinds,)."""
    texts_read = similarity.shape[1]
    top = min(texts_read, max(KIND_RELEVANCE_PRODUCTS_MIN, round(KIND_RELEVANCE_SHARE * texts_read)))
    return np.sort(similarity, axis=1)[:, -top:].mean(axis=1) - similarity.mean(axis=1)
