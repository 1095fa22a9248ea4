"""Models loaded once per test session: the real offline preset and a tiny CLIP saved to disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.embedders.clip import ClipEmbedder
from search.embedders.offline import OfflineEmbedder
from tests.search.tiny_clip import tiny_clip_save


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip_save(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_clip(tiny_clip_folder: Path) -> ClipEmbedder:
    # batch_size 4 so that a handful of inputs already spans several batches.
    return ClipEmbedder(checkpoint=str(tiny_clip_folder), batch_size=4, device="cpu")


@pytest.fixture(scope="session")
def offline_embedder() -> OfflineEmbedder:
    return OfflineEmbedder(batch_size=4, device="cpu")
