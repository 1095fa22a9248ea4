"""Text query vectors kept in Django's cache (search/services/query_texts.py), on the real Redis,
with tiny CLIPs (tests/search/conftest.py) that record what they embed."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache

from search.embedders.registry import embedder_clear_cache, embedder_get
from search.services.model_switch import embedding_model_activate, embedding_model_register
from search.services.product_search import SearchQuery, product_search
from search.services.query_texts import query_text_key, query_text_vector
from tests.search.counting_embedder import CountingClipEmbedder

pytestmark = pytest.mark.django_db


@pytest.fixture
def counting_models(settings, tiny_models):
    """``tiny`` and ``tiny2`` as CountingClipEmbedders (same weights, so the same model ids)."""
    settings.SNAPSHELF_EMBEDDING_MODELS = {
        name: {**options, "class": "tests.search.counting_embedder.CountingClipEmbedder"}
        for name, options in tiny_models.items()
    }
    embedder_clear_cache()
    model = embedding_model_activate("tiny")
    for name in ("tiny", "tiny2"):
        embedder_get(name)  # loaded now: a load's own probe is not a search
    CountingClipEmbedder.texts.clear()
    yield model
    embedder_clear_cache()


def forget(model, *texts: str) -> None:
    """Earlier tests (or runs) may have kept these texts: each test starts from a miss."""
    cache.delete_many([query_text_key(model, text) for text in texts])


def test_the_same_words_run_the_model_once_and_answer_the_same_vector(counting_models):
    model = counting_models
    forget(model, "red mug")
    embedder = embedder_get("tiny")
    first = query_text_vector(model, embedder, "red  mug ")
    again = query_text_vector(model, embedder, " red\tmug")
    assert CountingClipEmbedder.texts == ["red mug"]  # whitespace normalised: one key, one run
    assert np.array_equal(first, again) and again.dtype == np.float32 and again.flags.writeable
    assert np.array_equal(again, embedder.embed_texts(["red mug"])[0])  # a hit is what the model says


def test_case_is_kept_and_each_model_has_its_own_key(counting_models):
    model = counting_models
    other = embedding_model_register("tiny2")
    forget(model, "Red mug", "red mug")
    forget(other, "red mug")
    query_text_vector(model, embedder_get("tiny"), "Red mug")
    query_text_vector(model, embedder_get("tiny"), "red mug")
    mine = query_text_vector(model, embedder_get("tiny"), "red mug")
    theirs = query_text_vector(other, embedder_get("tiny2"), "red mug")
    assert CountingClipEmbedder.texts == ["Red mug", "red mug", "red mug"]  # the last by tiny2
    assert query_text_key(model, "red mug") != query_text_key(other, "red mug")
    assert not np.allclose(mine, theirs)  # other weights: a vector of one model never serves another


def test_a_word_search_keeps_its_vector_and_the_next_one_reads_it(counting_models):
    model = counting_models
    forget(model, "blue cap")
    product_search(SearchQuery(text="blue cap"))
    kept = cache.get(query_text_key(model, "blue cap"))
    assert isinstance(kept, bytes) and len(kept) == model.text_dim * 4
    product_search(SearchQuery(text="  blue   cap"))
    assert CountingClipEmbedder.texts == ["blue cap"]


def test_ttl_zero_turns_the_cache_off(counting_models, settings):
    settings.SNAPSHELF_SEARCH_TEXT_VECTOR_TTL_SECONDS = 0
    model = counting_models
    forget(model, "green tee")
    for _ in range(2):
        query_text_vector(model, embedder_get("tiny"), "green tee")
    assert CountingClipEmbedder.texts == ["green tee", "green tee"]
    assert cache.get(query_text_key(model, "green tee")) is None


def test_a_kept_value_of_the_wrong_size_is_embedded_again(counting_models):
    model = counting_models
    cache.set(query_text_key(model, "odd"), b"\x00" * 12, 60)
    vector = query_text_vector(model, embedder_get("tiny"), "odd")
    assert CountingClipEmbedder.texts == ["odd"] and vector.shape == (model.text_dim,)
    assert len(cache.get(query_text_key(model, "odd"))) == model.text_dim * 4
