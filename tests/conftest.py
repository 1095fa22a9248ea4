"""Shared fixtures. The settings (config/settings/test.py) start a throwaway embedded Postgres
+ pgvector and Redis in a temporary folder, and stop and delete both when the process exits."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(scope="module")
def demo_index(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo catalog indexed by the offline preset, committed once per module (embedding
    it per test would cost seconds each): the one indexed catalog the search and API tests share.
    Modules using it override ``media_root`` with ``demo_media_root`` so that the catalog's
    files stay where the index was built."""
    from django.test import override_settings

    from tests.search.search_fixtures import catalog_delete, demo_index_build

    folder = tmp_path_factory.mktemp("demo-media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=folder):
        model = demo_index_build()
        model.media_root = folder
        yield model
        catalog_delete()


@pytest.fixture
def demo_media_root(demo_index, settings):
    settings.MEDIA_ROOT = demo_index.media_root
    return settings.MEDIA_ROOT
