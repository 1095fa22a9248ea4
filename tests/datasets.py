"""The read-only data sets beside the checkout (../shared/datasets); tests skip without them."""

from __future__ import annotations

from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def dataset_folder(name: str) -> Path:
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip(f"the {name} data set is not at {folder} (../shared/datasets beside the checkout)")
    return folder
