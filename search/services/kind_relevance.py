"""How relevant each kind of thing a model tells apart is to a catalog, from the similarity of the
kinds' words to the catalog's product texts and category paths: numpy only, no Django, so that the
no-exact-match calibration (search/services/no_match.py) and its replay
(benchmarks/quality/no_match_replay.py) compute it with the same code."""

from __future__ import annotations

import numpy as np

# A kind's relevance to the product texts: the mean similarity of its words to the texts most like
# them (this share of the texts read, at least KIND_RELEVANCE_PRODUCTS_MIN), less its mean
# similarity to all of them. The share keeps one odd description from making a kind the shop's; the
# mean takes out what a kind's words share with any product text. With the 3 most alike and no
# mean, every kind found a few loosely alike texts among 5,000 fashion products, and grocery
# photos against the fashion catalog were flagged 0.73 instead of 0.87-0.89 on cached vectors
# (docs/adr/0013-no-match-kind-check.md).
KIND_RELEVANCE_SHARE = 0.02
KIND_RELEVANCE_PRODUCTS_MIN = 3


def kind_relevance(text_similarity: np.ndarray, path_similarity: np.ndarray | None = None) -> np.ndarray:
    """Each kind's relevance to the catalog, shape (kinds, texts) and (kinds, paths) -> (kinds,):
    its rank among the kinds (0 the least relevant, up to 1), by the mean of its relevance to the
    product texts and to the category paths (the path most like it, less its mean similarity to
    all paths). The paths name what the shop sells without the brand names in its titles
    (Locomotive, Turtle, Puma made *steam locomotive*, *box turtle* and *pug* look sold). The rank
    keeps the few kinds whose words are far more alike than any other (*jean*, *sunglasses*) from
    outweighing the rest of a photo's kinds (docs/adr/0013-no-match-kind-check.md, amendment 2)."""
    relevance = kind_relevance_to_texts(text_similarity)
    if path_similarity is not None and path_similarity.shape[1]:
        relevance = (relevance + kind_relevance_to_paths(path_similarity)) / 2
    return as_ranks(relevance)


def kind_relevance_to_texts(similarity: np.ndarray) -> np.ndarray:
    """Each kind's relevance to the product texts read, from its cosine similarities to them."""
    texts_read = similarity.shape[1]
    top = min(texts_read, max(KIND_RELEVANCE_PRODUCTS_MIN, round(KIND_RELEVANCE_SHARE * texts_read)))
    return np.sort(similarity, axis=1)[:, -top:].mean(axis=1) - similarity.mean(axis=1)


def kind_relevance_to_paths(similarity: np.ndarray) -> np.ndarray:
    """Each kind's relevance to the category paths: its similarity to the path most like it, less
    its mean similarity to all of them."""
    return similarity.max(axis=1) - similarity.mean(axis=1)


def as_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among ``values``, from 0 (the least) up to 1 (ties in their order)."""
    return np.argsort(np.argsort(values, kind="stable"), kind="stable") / len(values)
