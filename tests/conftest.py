"""Shared fixtures. The settings (config/settings/test.py) start a throwaway embedded Postgres
+ pgvector and Redis in a temporary folder; this file stops Redis when the session ends."""

from __future__ import annotations

import shutil

import pytest
from django.conf import settings


@pytest.fixture(scope="session", autouse=True)
def embedded_services():
    """The embedded servers of this test session (Postgres is deleted by pgserver at exit)."""
    yield settings
    if settings.EMBEDDED_REDIS is not None:
        settings.EMBEDDED_REDIS.stop()
        shutil.rmtree(settings.EMBEDDED_REDIS.folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
