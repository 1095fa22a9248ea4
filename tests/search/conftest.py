"""Search tests run real (tiny) CLIP models that the tests build and save to temporary folders."""

from __future__ import annotations

import json

import pytest

from search.embedders.registry import embedder_clear_cache
from tests.search.tiny_clip import tiny_clip_save


@pytest.fixture(scope="session")
def tiny_clip_folders(tmp_path_factory):
    """Two tiny CLIPs with different weights (so different model ids)."""
    root = tmp_path_factory.mktemp("tiny-clip")
    return {"tiny": tiny_clip_save(root / "a", seed=0), "tiny2": tiny_clip_save(root / "b", seed=1)}


@pytest.fixture
def embedding_models_setting(tiny_clip_folders):
    return {
        name: {"class": "search.embedders.clip.ClipEmbedder", "checkpoint": str(folder)}
        for name, folder in tiny_clip_folders.items()
    }


@pytest.fixture
def tiny_models(settings, embedding_models_setting):
    """Point the search app at the tiny CLIPs; the index starts with ``tiny``."""
    settings.SNAPSHELF_EMBEDDING_MODELS = embedding_models_setting
    settings.SNAPSHELF_SEARCH_MODEL = "tiny"
    embedder_clear_cache()
    yield embedding_models_setting
    embedder_clear_cache()


@pytest.fixture
def tiny_models_env(embedding_models_setting):
    """The same, as environment variables for worker processes."""
    return {"SNAPSHELF_EMBEDDING_MODELS": json.dumps(embedding_models_setting), "SNAPSHELF_SEARCH_MODEL": "tiny"}
