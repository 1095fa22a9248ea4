"""Insights tests use the demo catalog indexed by the offline preset (tests/search/conftest.py)."""

from __future__ import annotations

import pytest

from tests.search.conftest import demo_index, demo_media_root  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def visitor_salt_fresh():
    from insights.services.recording import visitor_salt_forget

    visitor_salt_forget()
    yield
    visitor_salt_forget()
