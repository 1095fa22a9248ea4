"""Shared fixtures. The settings (config/settings/test.py) start a throwaway embedded Postgres
+ pgvector and Redis in a temporary folder, and stop and delete both when the process exits."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def attribute_values_fresh():
    """Each test reads the colour choices from the shared cache (which tests clear), not from
    what this process kept of an earlier test's catalog."""
    from search.selectors import attribute_values_forget

    attribute_values_forget()
