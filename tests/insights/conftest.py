"""Insights tests use the demo catalog indexed by the offline preset (tests/conftest.py) and the tiny CLIPs."""

from __future__ import annotations

import pytest

from tests.search.conftest import (  # noqa: F401 - fixtures
    embedding_models_setting,
    tiny_clip_folders,
    tiny_models,
    tiny_models_env,
)


@pytest.fixture(autouse=True)
def visitor_salt_fresh():
    from insights.services.recording import visitor_salt_forget

    visitor_salt_forget()
    yield
    visitor_salt_forget()
