"""Baselines over the same images, with numpy: a colour histogram and a perceptual hash.

Both describe a whole photo without any learned model; they show what the model adds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

HIST_BINS = (8, 4, 4)  # hue, saturation, value
HASH_SIDE = 32  # pHash: the photo shrunk to 32x32 grey, its DCT's low 8x8 corner
HASH_KEEP = 8


def colour_histogram(image: Image.Image) -> np.ndarray:
    """HSV 8x4x4 histogram of the whole photo, square-rooted and L2-normalised (Hellinger): cosine
    similarity then compares the colour distributions."""
    hsv = np.asarray(image.convert("RGB").resize((112, 112)).convert("HSV")).reshape(-1, 3).astype(np.int64)
    h_bins, s_bins, v_bins = HIST_BINS
    bins = (
        (hsv[:, 0] * h_bins // 256) * s_bins * v_bins + (hsv[:, 1] * s_bins // 256) * v_bins + hsv[:, 2] * v_bins // 256
    )
    hist = np.sqrt(np.bincount(bins, minlength=h_bins * s_bins * v_bins).astype(np.float32))
    return hist / max(float(np.linalg.norm(hist)), 1e-9)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    matrix = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT = _dct_matrix(HASH_SIDE)


def perceptual_hash(image: Image.Image) -> np.ndarray:
    """pHash: 64 bits, each "this low frequency is above the median" (without the DC term)."""
    grey = np.asarray(image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS), np.float64)
    low = (_DCT @ grey @ _DCT.T)[:HASH_KEEP, :HASH_KEEP].ravel()
    return (low > np.median(low[1:])).astype(np.float32)


def hash_similarities(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Higher is closer: minus the Hamming distance."""
    return -np.abs(gallery - query).sum(axis=1)


def cosine_similarities(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    return gallery @ query


Describe = Callable[[Image.Image], np.ndarray]
Compare = Callable[[np.ndarray, np.ndarray], np.ndarray]
BASELINES: dict[str, tuple[Describe, Compare]] = {
    "colour histogram": (colour_histogram, cosine_similarities),
    "perceptual hash": (perceptual_hash, hash_similarities),
}


def products_ranked(similarities: np.ndarray, owners: Sequence[str], *, exclude: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Products by their best image, most similar first (ties: gallery order)."""
    order = np.argsort(-similarities, kind="stable")
    ranked, seen = [], set(exclude)
    for index in order:
        owner = owners[index]
        if owner not in seen:
            seen.add(owner)
            ranked.append(owner)
    return ranked
