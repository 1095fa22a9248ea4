"""Text query vectors, kept in Django's cache so that the same words cost the text model once.

A word search spends more in the text model (MiniLM, ~9 ms on a core) than in everything else it
does (docs/performance.md, *Where the time goes*), and shoppers repeat each other's words. A
query's vector depends on nothing but the model's weights and preprocessing and the text, so it
never goes stale: the key holds ``EmbeddingModel.model_id`` (the model's name, version and
recipe), and a model switch, or new weights, changes the key. That is the only rule; entries
expire after ``SNAPSHELF_SEARCH_TEXT_VECTOR_TTL_SECONDS`` just to bound the cache's memory
(``0`` turns the cache off). With Redis down the cache answers as a miss and the text is embedded,
as without it (config/failsafe_cache.py).

The cached vector is the one the model gives for the normalised text (whitespace collapsed; case
kept, since some models' tokenizers are cased), so a hit and a miss answer alike.
"""

from __future__ import annotations

import hashlib

import numpy as np
from django.core.cache import cache

from search.conf import search_setting
from search.embedders.base import Embedder
from search.models import EmbeddingModel

KEY_PREFIX = "snapshelf:search:text-vector"


def query_text_normalise(text: str) -> str:
    """The words as the model is given them: runs of whitespace as one space, none at the ends."""
    return " ".join(text.split())


def query_text_vector(model: EmbeddingModel, embedder: Embedder, text: str) -> np.ndarray:
    """The text vector of ``text`` by ``embedder`` (which loads ``model``'s weights): from the
    cache when these words were searched with this model within the TTL, else embedded and kept."""
    text = query_text_normalise(text)
    ttl = int(search_setting("SEARCH_TEXT_VECTOR_TTL_SECONDS"))
    if ttl <= 0:
        return embedder.embed_texts([text])[0]
    key = query_text_key(model, text)
    kept = cache.get(key)
    if isinstance(kept, bytes) and len(kept) == model.text_dim * 4:
        return np.frombuffer(kept, dtype=np.float32).copy()
    vector = np.asarray(embedder.embed_texts([text])[0], dtype=np.float32)
    cache.set(key, vector.tobytes(), ttl)
    return vector


def query_text_key(model: EmbeddingModel, text: str) -> str:
    """The cache key of ``text`` (normalised) for ``model``: a hash, so that any text makes a
    short key without spaces, and a text never shows in the cache's key list."""
    digest = hashlib.sha256(f"{model.model_id}\x00{text}".encode()).hexdigest()
    return f"{KEY_PREFIX}:{digest}"
