"""Shared fixtures. The settings (config/settings/test.py) start a throwaway embedded Postgres
+ pgvector and Redis in a temporary folder, and stop and delete both when the process exits."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
