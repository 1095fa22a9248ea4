"""Typo correction: the catalog's vocabulary, kept as products change, and pg_trgm lookups in it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.services import category_get_or_create_path, product_upsert
from search.models import VocabularyWord
from search.services.keywords import (
    TYPO_CANDIDATES,
    KeywordSearch,
    keyword_hits,
    keyword_search,
    vocabulary_rebuild,
    words_correct,
)
from search.services.product_search import SearchFilters, product_filter_build

pytestmark = pytest.mark.django_db


def words() -> set[str]:
    return set(VocabularyWord.objects.values_list("word", flat=True))


@pytest.fixture
def parka(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        product, _ = product_upsert(
            sku="ZP-1",
            title="Zephyrine Parka",
            brand="Quillfeather",
            price="80.00",
            attributes={"colour": "Mauvish", "size": 42},
            category=category_get_or_create_path("Outerwear > Glacierwear"),
        )
    return product


def test_a_saved_product_adds_its_words_after_commit(parka):
    assert {"zephyrine", "parka", "quillfeather", "mauvish", "outerwear", "glacierwear"} <= words()
    assert "42" not in words()  # numbers are never corrected, so never needed


def test_uncommitted_and_inactive_products_add_no_words(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        product_upsert(sku="ZP-2", title="Brontosaurine Cape", price="5.00")
    with django_capture_on_commit_callbacks(execute=True):
        product_upsert(sku="ZP-3", title="Wimbrelline Scarf", price="5.00", is_active=False)
    assert not {"brontosaurine", "wimbrelline"} & words()


def test_typos_are_corrected_to_the_catalog_words(parka):
    corrected = words_correct(["zepyrine", "quilfeather", "parks", "mauvsh", "glacierw", "with", "xqzvwk", "42", "zp"])
    # Known words, prefixes of catalog words (a word being typed), stop words, numbers, short
    # words and words with no close catalog word stay as they are.
    assert corrected == ["zephyrine", "quillfeather", "parka", "mauvish", "glacierw", "with", "xqzvwk", "42", "zp"]
    assert words_correct([]) == []


def test_rebuild_drops_words_nothing_uses(parka, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        product_upsert(sku="ZP-1", title="Zephyrine Anorak", is_active=False)
    assert "parka" in words()  # saving adds, never removes
    count = vocabulary_rebuild()
    assert count == len(words())
    assert not {"zephyrine", "parka", "anorak", "quillfeather", "mauvish"} & words()
    assert {"outerwear", "glacierwear"} <= words()  # category names stay while the category does
    assert words_correct(["zepyrine"]) == ["zepyrine"]


def test_the_nearest_words_come_from_the_trigram_index(parka):
    with transaction.atomic(), connection.cursor() as cursor:
        # On a table this small the planner may read any index and sort; without a sort step the
        # nearest words can only come in order from the trigram index.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(
            "EXPLAIN SELECT word FROM search_vocabularyword ORDER BY word <-> %s LIMIT %s",
            ["zepyrine", TYPO_CANDIDATES],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "vocabulary_word_trigrams" in plan


def test_beat_rebuilds_the_vocabulary(parka, settings, django_capture_on_commit_callbacks):
    from config import celery_app
    from search import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["search-vocabulary-rebuild"]
    assert celery_app.tasks[entry["task"]].name == tasks.vocabulary_rebuild.name  # registered under that name
    with django_capture_on_commit_callbacks(execute=True):
        product_upsert(sku="ZP-1", is_active=False)
    tasks.vocabulary_rebuild()
    assert "zephyrine" not in words()


def test_keyword_search_is_correction_then_hits_in_one_statement_unless_a_word_is_corrected(
    parka, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for index, title in enumerate(["Zephyrine Gloves", "Glacier Boots", "Parka Liner"]):
            product_upsert(sku=f"ZP-{index + 2}", title=title, brand="Quillfeather")
    everything = product_filter_build(SearchFilters())
    queries = [
        ["zephyrine", "parka"],  # known words
        ["zepyrine", "parka"],  # a typo
        ["the", "parka", "42"],  # a stop word and a number
        ["zep"],  # too short to correct, a prefix
        ["xqzvwk"],  # nothing close
        [],
    ]
    for words in queries:
        corrected = words_correct(words)
        expected = KeywordSearch(corrected, keyword_hits(corrected, everything, limit=10))
        with CaptureQueriesContext(connection) as statements:
            found = keyword_search(words, everything, limit=10)
        assert found == expected, words
        assert len(statements) == (2 if corrected != words else 1 if expected.hits or words else 0), words
    assert keyword_search(["zephyrine", "parka"], everything, limit=10).hits[0].product_id == parka.pk
