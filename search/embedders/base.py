"""The interface every embedding model implements, and the batching it shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from catalog.image_intake import flatten_to_rgb

T = TypeVar("T")

# The one place users choose the models; named in every load error.
MODELS_SETTING = "SNAPSHELF_EMBEDDING_MODELS"
OFFLINE_HINT = "SNAPSHELF_SEARCH_MODEL=offline / python manage.py search_model activate offline"


class EmbedderLoadError(RuntimeError):
    """A model could not be loaded; the message is one line, for people and logs."""


class Embedder(ABC):
    """Images and texts to float32, L2-normalised vectors.

    ``model_id`` names the weights and the preprocessing: vectors with different ids must never be
    compared, so any change to either must change it.
    """

    model_id: str
    image_dim: int
    text_dim: int
    # True when text and image vectors live in one space (a text query can search images).
    shared_space: bool
    # The side (pixels) the model's input images are resized to: query photos are decoded at
    # no less than this (catalog.image_intake.query_photo_decode).
    image_side: int = 224
    # Where "is this the same product?" is judged for the no-exact-match notice
    # (search/services/no_match.py): "" means the vectors as stored; a model may name a space that
    # tells a product it has from one it has not better, and map its vectors there in
    # match_vectors. Renaming it (any change to match_vectors) makes the calibration due again.
    match_space: str = ""
    # The kind check of the same notice: a model that can tell what kinds of things a photo shows
    # names that space here, gives each kind's probability for image vectors (kind_probabilities)
    # and describes each kind in words (kind_descriptions, embedded by its text model and compared
    # with the catalog's product texts). "" means no kind check. Renaming it makes the calibration
    # due again (docs/adr/0013-no-match-kind-check.md).
    kind_space: str = ""

    def __init__(self, *, batch_size: int = 16, device: str = "auto", threads: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.batch_size = batch_size
        self.device = device_resolve(device)
        if threads > 0:
            # Process-wide in torch: the last embedder built wins, which is what a worker wants.
            torch.set_num_threads(threads)

    @property
    def dim(self) -> int:
        return self.image_dim

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """One row per image, shape (N, image_dim)."""
        rgb = [flatten_to_rgb(image) for image in images]
        return self._embed_batched(rgb, self._image_batch_embed, self.image_dim)

    def embed_query_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Query photos (a shopper's, searched with) as vectors comparable with embed_images'.
        The same by default; a model may describe a query differently from a catalog photo."""
        return self.embed_images(images)

    def match_vectors(self, image_vectors: np.ndarray) -> np.ndarray:
        """Image vectors (stored, or a query photo's) mapped into ``match_space``, L2-normalised."""
        return l2_normalise(image_vectors)

    def kind_probabilities(self, image_vectors: np.ndarray) -> np.ndarray:
        """Each image vector's probability of each kind (rows sum to 1), shape (N, kinds)."""
        raise NotImplementedError(f"{type(self).__name__} has no kind space")

    def kind_descriptions(self) -> list[str]:
        """Each kind of kind_probabilities in words, in the same order."""
        raise NotImplementedError(f"{type(self).__name__} has no kind space")

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, shape (N, text_dim)."""
        return self._embed_batched(list(texts), self._text_batch_embed, self.text_dim)

    @abstractmethod
    def _image_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        """Vectors (not necessarily normalised) for at most ``batch_size`` RGB images."""

    @abstractmethod
    def _text_batch_embed(self, texts: list[str]) -> torch.Tensor:
        """Vectors (not necessarily normalised) for at most ``batch_size`` texts."""

    def _embed_batched(self, items: list[T], embed: Callable[[list[T]], torch.Tensor], dim: int) -> np.ndarray:
        if not items:
            return np.zeros((0, dim), dtype=np.float32)
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                vectors = embed(items[start : start + self.batch_size])
                chunks.append(vectors.float().cpu().numpy())
        return l2_normalise(np.concatenate(chunks))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id} on {self.device}>"


def transformers_progress_bars_off() -> None:
    """No progress bars while transformers loads a model: a server loads models in the background,
    where a bar is noise (a Celery worker logs whatever reaches stderr as a warning)."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def error_summary(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters: transformers' errors span lines."""
    reason = " ".join(str(exc).split()) or "no details"
    if len(reason) > limit:
        reason = reason[: limit - 1] + "…"
    return f"{type(exc).__name__}: {reason}"


def device_resolve(device: str) -> torch.device:
    """``auto`` picks CUDA when torch sees a GPU; ``cpu`` and ``cuda`` are taken as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    return torch.device(device)
