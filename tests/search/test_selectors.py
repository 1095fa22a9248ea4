"""Filter choices: colours are cached, categories come from the category tree, a change shows at once."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache

from catalog import memo
from catalog.models import Category
from catalog.selectors import category_paths
from search import selectors
from search.selectors import filter_choices
from tests.catalog.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def category_choices():
    return filter_choices("colour").categories


@pytest.fixture
def tree():
    home = CategoryFactory(name="Home")
    kitchen = CategoryFactory(name="Kitchen", parent=home)
    mugs = CategoryFactory(name="Mugs", parent=kitchen)
    bags = CategoryFactory(name="Bags")
    return home, kitchen, mugs, bags


def test_category_paths_are_full_paths_in_the_forms_old_order(tree):
    expected = [(c.pk, c.full_path) for c in Category.objects.select_related("parent").order_by("parent_id", "name")]
    assert category_paths() == expected
    assert (tree[2].pk, "Home > Kitchen > Mugs") in expected


def test_filter_choices_are_cached(tree, django_assert_num_queries):
    cache.delete("snapshelf:search:attribute-values:colour")  # an earlier test's colours
    ProductFactory(category=tree[2], attributes={"colour": "Red"})
    ProductFactory(category=tree[3], attributes={"colour": "blue"})
    first = filter_choices("colour")
    assert first.attribute_values == ["blue", "red"] and (tree[3].pk, "Bags") in first.categories
    # One query: inside a test's transaction the category tree is read each time (outside one it
    # is kept in the process: tests/catalog/test_selectors.py); the colours come from the cache.
    with django_assert_num_queries(1):
        assert filter_choices("colour") == first


def test_saving_renaming_and_deleting_a_category_changes_the_choices_at_once(tree):
    _home, kitchen, mugs, bags = tree
    category_choices()
    kitchen.name = "Cooking"
    kitchen.save()
    assert (mugs.pk, "Home > Cooking > Mugs") in category_choices()
    shoes = CategoryFactory(name="Shoes")
    assert (shoes.pk, "Shoes") in category_choices()
    bags.delete()
    assert bags.pk not in dict(category_choices())


def test_results_page_shows_the_categories_with_the_chosen_one_selected(client, tree):
    mugs = tree[2]
    Category.objects.create(name="Cups & <Saucers>", slug="cups", parent=tree[1])
    html = client.get("/search/", {"category": mugs.pk}).content.decode()
    select = html[html.index('<select name="category" id="id_category">') :].split("</select>")[0]
    assert f'<option value="{mugs.pk}" selected>Home &gt; Kitchen &gt; Mugs</option>' in select
    assert "Home &gt; Kitchen &gt; Cups &amp; &lt;Saucers&gt;</option>" in select
    assert select.count(" selected>") == 1 and select.count("<option") == 6


def test_a_category_only_stale_choices_still_list_is_refused(client, tree, monkeypatch):
    gone = CategoryFactory(name="Gone")
    Category.objects.filter(pk=gone.pk).delete()
    # Options from before the delete (as another process could show for a moment).
    monkeypatch.setattr("search.selectors.category_paths", lambda: [(gone.pk, "Gone")])
    response = client.get("/search/", {"category": gone.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()


def test_colour_choices_are_kept_in_the_process_for_a_few_seconds(tree, monkeypatch):
    cache.delete("snapshelf:search:attribute-values:colour")
    ProductFactory(category=tree[3], attributes={"colour": "blue"})
    assert filter_choices("colour").attribute_values == ["blue"]
    cache.set("snapshelf:search:attribute-values:colour", ["green"])  # another process refreshed them
    assert filter_choices("colour").attribute_values == ["blue"]  # kept here: no cache read
    later = time.monotonic() + selectors.ATTRIBUTE_VALUES_LOCAL_SECONDS + 1
    monkeypatch.setattr(memo, "time", SimpleNamespace(monotonic=lambda: later))
    assert filter_choices("colour").attribute_values == ["green"]
