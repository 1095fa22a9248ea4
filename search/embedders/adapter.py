"""A light adapter over a frozen model's image vectors, and the embedder that applies it.

The adapter is a low-rank residual projection, ``normalise(x + (x @ down) @ up)``: it starts as
the identity (``up`` is zero before training) and can only move vectors within a rank-``r``
subspace, so a few hundred shop photos cannot make it forget what the frozen model knows.
It is learned by ``search.tuning.adapter_train`` and stored in the database
(``search.ModelAdapter``); text vectors pass through unchanged.

The projection ``I + down @ up`` starts as the identity and stays invertible unless training
cancels a direction exactly, so an adapted vector gives back its base vector's direction
(``LowRankAdapter.unapply``). The tuned model uses that to judge "no exact match" where its base
model does (the offline preset's classifier space,
docs/adr/0011-no-match-in-the-classifier-space.md). In the tuned space itself, a threshold that
keeps the shop's own photos let about 3% of photos of other kinds of products pass but flagged
20% of real shop photos taken another day (docs/quality.md, *A tuned model's no-exact-match
notice*).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from PIL import Image

from search.embedders.base import Embedder, l2_normalise


@dataclass(frozen=True)
class LowRankAdapter:
    down: np.ndarray  # (dim, rank)
    up: np.ndarray  # (rank, dim)

    @property
    def dim(self) -> int:
        return int(self.down.shape[0])

    @property
    def rank(self) -> int:
        return int(self.down.shape[1])

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Adapted, L2-normalised rows of ``vectors`` (N, dim)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        return l2_normalise(vectors + (vectors @ self.down) @ self.up)

    def unapply(self, vectors: np.ndarray) -> np.ndarray:
        """The L2-normalised base vectors that ``apply`` maps to ``vectors`` (their directions: the
        scale is normalised away), through Woodbury's identity, ``(I + DU)^-1 = I - D (I + UD)^-1 U``.
        Exact while ``I + DU`` is invertible (training starts it as the identity); for one that is
        not, the pseudo-inverse gives an approximation."""
        vectors = np.asarray(vectors, dtype=np.float64)
        base = vectors - ((vectors @ self.down) @ self._inner_inverse) @ self.up
        return l2_normalise(base.astype(np.float32))

    @cached_property
    def _inner_inverse(self) -> np.ndarray:
        """``(I + UD)^-1`` (rank x rank) of ``unapply``, derived once from the weights."""
        inner = np.eye(self.rank, dtype=np.float64) + self.up.astype(np.float64) @ self.down.astype(np.float64)
        return np.linalg.pinv(inner)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, down=self.down.astype(np.float32), up=self.up.astype(np.float32))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LowRankAdapter:
        # allow_pickle=False: the weights are plain arrays, never objects to unpickle.
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as arrays:
            down, up = arrays["down"], arrays["up"]
        if down.ndim != 2 or up.shape != (down.shape[1], down.shape[0]):
            raise ValueError(f"adapter weights of shapes {down.shape} and {up.shape} do not fit together")
        return cls(down=down.astype(np.float32), up=up.astype(np.float32))

    def digest(self) -> str:
        """SHA-256 of the weights: names the adapter in model ids."""
        return hashlib.sha256(self.to_bytes()).hexdigest()


class AdaptedEmbedder(Embedder):
    """A frozen embedder whose image vectors (catalog photos and query photos) pass through an
    adapter. ``model_id`` names both, so its vectors are never compared with the base model's.
    It judges "no exact match" in its base model's spaces: match_vectors and kind_probabilities
    take the base vectors back from the adapted ones (registry.embedder_spaces names them
    without loading weights)."""

    def __init__(self, *, base: Embedder, adapter: LowRankAdapter) -> None:
        if adapter.dim != base.image_dim:
            raise ValueError(f"the adapter takes {adapter.dim}-d vectors, the base model makes {base.image_dim}-d")
        # No super().__init__: the base embedder already set the device and threads.
        self.base, self.adapter = base, adapter
        self.batch_size, self.device = base.batch_size, base.device
        self.image_dim, self.text_dim = base.image_dim, base.text_dim
        self.shared_space, self.image_side = base.shared_space, base.image_side
        self.model_id = f"{base.model_id}+adapter-{adapter.digest()[:16]}"
        self.match_space, self.kind_space = base.match_space, base.kind_space

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.adapter.apply(self.base.embed_images(images))

    def embed_query_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.adapter.apply(self.base.embed_query_images(images))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.embed_texts(texts)

    def match_vectors(self, image_vectors: np.ndarray) -> np.ndarray:
        return self.base.match_vectors(self.adapter.unapply(image_vectors))

    def kind_probabilities(self, image_vectors: np.ndarray) -> np.ndarray:
        return self.base.kind_probabilities(self.adapter.unapply(image_vectors))

    def kind_descriptions(self) -> list[str]:
        return self.base.kind_descriptions()

    def adapt(self, base_vectors: np.ndarray) -> np.ndarray:
        """The vectors this model gives images whose base-model vectors are ``base_vectors``:
        building the tuned index needs no forward pass for images the base model has embedded."""
        return self.adapter.apply(base_vectors)

    def _image_batch_embed(self, images: list[Image.Image]) -> torch.Tensor:
        return torch.from_numpy(self.embed_images(images))

    def _text_batch_embed(self, texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(self.embed_texts(texts))
