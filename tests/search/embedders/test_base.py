import numpy as np
import pytest
import torch

from search.embedders.base import device_resolve, error_summary, l2_normalise


def test_l2_normalise_gives_unit_rows_and_keeps_zero_rows_zero():
    vectors = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, [[0.6, 0.8], [0.0, 0.0]], atol=1e-7)


def test_device_resolve():
    assert device_resolve("cpu") == torch.device("cpu")
    assert device_resolve("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        device_resolve("tpu")


def test_error_summary_is_one_short_line():
    summary = error_summary(OSError("first line\n\nsecond line " + "x" * 500))
    assert "\n" not in summary
    assert summary.startswith("OSError: first line second line")
    assert len(summary) <= len("OSError: ") + 200
