"""The storefront's colour and category choices and the cache of whole-catalog figures (stats_cached)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from catalog.models import Category
from catalog.selectors import categories_version_bump
from search.selectors import attribute_values, stats_cached
from tests.catalog.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_empty():
    cache.clear()  # an earlier test's colours


@pytest.fixture
def tree():
    home = CategoryFactory(name="Home")
    kitchen = CategoryFactory(name="Kitchen", parent=home)
    mugs = CategoryFactory(name="Mugs", parent=kitchen)
    bags = CategoryFactory(name="Bags")
    return home, kitchen, mugs, bags


def test_colour_choices_are_counted_once_then_cached(tree, settings, django_assert_num_queries):
    ProductFactory(category=tree[2], attributes={"colour": "Red"})
    ProductFactory(category=tree[3], attributes={"colour": "blue"})
    ProductFactory(category=tree[3], attributes={"colour": "grey"}, is_active=False)
    with django_assert_num_queries(1):
        assert attribute_values("colour") == ["blue", "red"]
    ProductFactory(category=tree[3], attributes={"colour": "green"})
    with django_assert_num_queries(0):
        assert attribute_values("colour") == ["blue", "red"]  # within SEARCH_STATS_TTL_SECONDS


def test_stats_cached_keeps_a_figure_for_the_ttl_setting(settings):
    settings.SNAPSHELF_SEARCH_STATS_TTL_SECONDS = 60
    assert stats_cached("answer", lambda: 42) == 42
    assert stats_cached("answer", lambda: 43) == 42
    settings.SNAPSHELF_SEARCH_STATS_TTL_SECONDS = 0  # Django: a timeout of 0 expires at once
    assert stats_cached("other", lambda: 1) == 1
    assert stats_cached("other", lambda: 2) == 2


def test_a_parent_rename_and_a_bumped_bulk_update_show_in_the_choices(client, tree, django_capture_on_commit_callbacks):
    # The rendered selects are cached under the categories' version (catalog.selectors): a save
    # bumps it once committed, and changes the paths below it; a bulk update sends no signal, so
    # its caller bumps the version (docs/architecture.md, Caching).
    _home, kitchen, _mugs, bags = tree
    client.get("/search/", {"q": "x"})
    with django_capture_on_commit_callbacks(execute=True):
        kitchen.name = "Cooking"
        kitchen.save()
    assert "Home &gt; Cooking &gt; Mugs</option>" in client.get("/search/", {"q": "x"}).content.decode()
    Category.objects.filter(pk=bags.pk).update(name="Totes")
    categories_version_bump()
    assert "Totes</option>" in client.get("/search/", {"q": "x"}).content.decode()


def test_results_page_shows_the_categories_with_the_chosen_one_selected(client, tree):
    mugs = tree[2]
    Category.objects.create(name="Cups & <Saucers>", slug="cups", parent=tree[1])
    html = client.get("/search/", {"category": mugs.pk}).content.decode()
    select = html[html.index('<select name="category" id="id_category">') :].split("</select>")[0]
    assert f'<option value="{mugs.pk}" selected>Home &gt; Kitchen &gt; Mugs</option>' in select
    assert "Home &gt; Kitchen &gt; Cups &amp; &lt;Saucers&gt;</option>" in select
    assert select.count(" selected>") == 1 and select.count("<option") == 6


def test_a_deleted_category_is_refused_with_a_form_error(client, tree):
    gone = CategoryFactory(name="Gone")
    Category.objects.filter(pk=gone.pk).delete()
    response = client.get("/search/", {"category": gone.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
