"""Filter choices: colours and categories are cached, and a category change is shown at once."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from catalog.models import Category
from catalog.selectors import category_paths
from search.selectors import CATEGORY_CHOICES_CACHE_KEY, filter_choices
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
    with django_assert_num_queries(0):
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


def test_choices_cached_by_another_request_before_the_commit_are_forgotten_after_it(
    tree, django_capture_on_commit_callbacks
):
    home = tree[0]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        home.name = "House"
        home.save()
        # Another request, not seeing this transaction, caches the committed names meanwhile.
        cache.set(CATEGORY_CHOICES_CACHE_KEY, [(home.pk, "Home")])
    assert (home.pk, "House") in category_choices()


def test_results_page_shows_the_categories_with_the_chosen_one_selected(client, tree):
    mugs = tree[2]
    Category.objects.create(name="Cups & <Saucers>", slug="cups", parent=tree[1])
    html = client.get("/search/", {"category": mugs.pk}).content.decode()
    select = html[html.index('<select name="category" id="id_category">') :].split("</select>")[0]
    assert f'<option value="{mugs.pk}" selected>Home &gt; Kitchen &gt; Mugs</option>' in select
    assert "Home &gt; Kitchen &gt; Cups &amp; &lt;Saucers&gt;</option>" in select
    assert select.count(" selected>") == 1 and select.count("<option") == 6


def test_a_category_only_the_cached_choices_still_list_is_refused(client, tree):
    gone = CategoryFactory(name="Gone")
    category_choices()
    Category.objects.filter(pk=gone.pk).delete()  # as a raw delete would: the cache still lists it
    cache.set(CATEGORY_CHOICES_CACHE_KEY, [(gone.pk, "Gone")])
    response = client.get("/search/", {"category": gone.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
