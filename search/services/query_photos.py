"""Photo queries kept server-side under a token, so that pages, filter changes and the API's
next page reuse the vector instead of embedding the photo again.

Only the vector is kept (in the Django cache, Redis in this project) unless
``SNAPSHELF_SEARCH_KEEP_QUERY_PHOTO`` is set; then a downscaled JPEG of the photo is kept with it.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from PIL import Image

from search.conf import search_setting
from search.models import EmbeddingModel

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEPT_PHOTO_SIDE = 640


@dataclass(frozen=True)
class QueryPhoto:
    vector: np.ndarray
    photo_jpeg: bytes | None


def _key(token: str) -> str:
    return f"snapshelf:search:query:{token}"


def query_photo_keep(*, model: EmbeddingModel, vector: np.ndarray, image: Image.Image) -> str:
    """Store the query vector (and the photo, if the setting says so); return its token."""
    token = secrets.token_urlsafe(18)
    photo = _jpeg(image) if search_setting("SEARCH_KEEP_QUERY_PHOTO") else None
    entry = {"model_id": model.model_id, "vector": vector.astype(np.float32).tobytes(), "photo": photo}
    cache.set(_key(token), entry, search_setting("SEARCH_QUERY_TTL_SECONDS"))
    return token


def query_photo_load(token: str, *, model: EmbeddingModel) -> QueryPhoto | None:
    """The kept query, or None when the token is malformed, expired or from another model."""
    if not TOKEN.match(token or ""):
        return None
    entry = cache.get(_key(token))
    if not isinstance(entry, dict) or entry.get("model_id") != model.model_id:
        return None
    return QueryPhoto(np.frombuffer(entry["vector"], dtype=np.float32), entry.get("photo"))


def _jpeg(image: Image.Image) -> bytes:
    copy = image.copy()
    copy.thumbnail((KEPT_PHOTO_SIDE, KEPT_PHOTO_SIDE))
    buffer = io.BytesIO()
    copy.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
