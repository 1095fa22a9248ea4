"""The project's storefront theme (top-level templates/ and static/) over the search app's own."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.core import checks
from django.template import engines
from django.urls import reverse

from tests.catalog.factories import ProductFactory


@pytest.mark.django_db
def test_the_project_theme_overrides_the_apps_base_layout(client):
    ProductFactory(title="Themed mug")
    page = client.get(reverse("search:home")).content.decode()
    assert '<a class="brand" href="/">' in page and "Snapshelf Demo Shop</a>" in page
    assert "/static/theme/logo.svg" in page and "/static/favicon.svg" in page
    # The theme's stylesheet comes after the app's, so its colours win.
    assert page.index("/static/search/storefront.css") < page.index("/static/theme/theme.css")
    # The app's blocks still render inside the project's layout.
    assert "Themed mug" in page and 'id="search-form"' in page
    results = client.get(reverse("search:results"), {"q": "mug"}).content.decode()
    assert "<title>Search results · Snapshelf Demo Shop</title>" in results


@pytest.mark.django_db
def test_without_the_project_templates_the_app_renders_its_own_layout(client, settings):
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": []}]
    page = client.get(reverse("search:home")).content.decode()
    assert '<a class="brand" href="/">Snapshelf</a>' in page and "theme.css" not in page


def test_the_theme_files_are_found_by_staticfiles():
    assert finders.find("theme/theme.css") and finders.find("theme/logo.svg") and finders.find("favicon.svg")
    assert finders.find("search/storefront.css")  # the app's own stay where they are


def test_system_checks_report_nothing():
    """No staticfiles.W004: STATICFILES_DIRS' static/ exists (and nothing else is reported)."""
    assert checks.run_checks(include_deployment_checks=False) == []


def test_templates_use_the_cached_loader_when_debug_is_off(settings):
    assert settings.DEBUG is False
    loaders = engines["django"].engine.loaders
    assert loaders[0][0] == "django.template.loaders.cached.Loader"
