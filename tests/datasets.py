"""The read-only data sets beside the checkout (../shared/datasets, or SNAPSHELF_DATASETS_DIR);
tests skip without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.quality.datasets import DATASETS


def dataset_folder(name: str) -> Path:
    folder = DATASETS / name
    if not folder.is_dir():
        pytest.skip(
            f"the {name} data set is not at {folder} (../shared/datasets beside the checkout, "
            "or set SNAPSHELF_DATASETS_DIR)"
        )
    return folder
