"""The kind check's relevance (search/services/kind_relevance.py): ranks of the kinds by their words'
likeness to the product texts and the category paths."""

from __future__ import annotations

import numpy as np

from search.services.kind_relevance import kind_relevance, kind_relevance_to_texts


def test_relevance_to_texts_is_the_most_alike_texts_less_the_mean():
    # 200 texts: the 2% most alike are 4 of them.
    similarity = np.zeros((2, 200))
    similarity[0, :4] = 0.8  # four texts name kind 0
    similarity[1, :] = 0.3  # kind 1 is as alike to every text: nothing in particular
    relevance = kind_relevance_to_texts(similarity)
    np.testing.assert_allclose(relevance, [0.8 - 0.8 * 4 / 200, 0.0], atol=1e-12)


def test_relevance_is_a_rank_among_the_kinds():
    rng = np.random.default_rng(0)
    texts = rng.normal(size=(50, 300))
    relevance = kind_relevance(texts)
    np.testing.assert_array_equal(np.sort(relevance), np.arange(50) / 50)
    order = np.argsort(kind_relevance_to_texts(texts))
    np.testing.assert_array_equal(relevance[order], np.arange(50) / 50)
    # One kind far more alike than the rest moves only its own rank, to the top.
    texts[7, :6] = 10.0
    again = kind_relevance(texts)
    assert again[7] == 49 / 50 and np.argsort(again).tolist()[:-1] == [i for i in np.argsort(relevance) if i != 7]


def test_category_paths_weigh_as_much_as_the_texts():
    # Kind 0 is named by brand words in the texts only; kind 1 by a category path only.
    texts = np.zeros((3, 100))
    texts[0, :2] = 1.0
    paths = np.zeros((3, 4))
    paths[1, 0] = 1.0
    paths[2, 0] = 0.1
    alone = kind_relevance(texts)
    both = kind_relevance(texts, paths)
    assert np.argmax(alone) == 0
    np.testing.assert_allclose(both, [1 / 3, 2 / 3, 0.0])  # kind 1: (0 + 0.75) / 2 > kind 0: (0.65 + 0) / 2
    # No paths (a catalog without categories): the texts alone.
    np.testing.assert_array_equal(kind_relevance(texts, np.zeros((3, 0))), alone)
