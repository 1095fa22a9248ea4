"""Photo queries kept server-side under a token, so that pages, filter changes and the API's
next page reuse the vector instead of embedding the photo again.

Kept in Postgres (``search.QueryPhoto``), apart from the Redis that carries the broker's queues
(docs/adr/0008-query-photos-in-postgres.md). Only the vector is kept unless
``SNAPSHELF_SEARCH_KEEP_QUERY_PHOTO`` is set; then a downscaled JPEG of the photo is kept with it.

A token is bound to its owner (the storefront session, the API key): a token seen in a URL, a
shared link or a web server's access log finds nothing for anyone else. Tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.utils import timezone
from PIL import Image

from search.conf import search_setting
from search.models import EmbeddingModel, QueryPhoto

TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEPT_PHOTO_SIDE = 640


@dataclass(frozen=True)
class KeptQuery:
    vector: np.ndarray
    photo_jpeg: bytes | None


def query_photo_keep(*, model: EmbeddingModel, vector: np.ndarray, image: Image.Image, owner: str) -> str:
    """Store the query vector (and the photo, if the setting says so) for ``owner``; return its token."""
    token = secrets.token_urlsafe(18)
    row = QueryPhoto(
        token=token,
        owner=_owner_hash(owner),
        model_id=model.model_id,
        vector=vector.astype(np.float32).tobytes(),
        photo_jpeg=_jpeg(image) if search_setting("SEARCH_KEEP_QUERY_PHOTO") else None,
        expires_at=timezone.now() + timedelta(seconds=search_setting("SEARCH_QUERY_TTL_SECONDS")),
    )
    if connection.in_atomic_block:  # a caller's transaction: its commit is not ours to relax
        row.save(force_insert=True)
        return token
    with transaction.atomic():
        # Not waiting for the WAL flush roughly halved the insert (ADR 0008); a crash can lose only
        # the last moments' queries, and a shopper whose token is lost adds the photo again.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        row.save(force_insert=True)
    return token


def query_photo_load(token: str, *, model: EmbeddingModel, owner: str) -> KeptQuery | None:
    """The kept query, or None when the token is malformed, expired, another owner's or from
    another model."""
    if not TOKEN.match(token or ""):
        return None
    # The shopper's own write of a moment ago: read from the primary, never from a read replica
    # that may not have it yet (search/replicas.py).
    row = QueryPhoto.objects.using(DEFAULT_DB_ALIAS).filter(token=token, expires_at__gt=timezone.now()).first()
    if row is None or not hmac.compare_digest(row.owner, _owner_hash(owner)) or row.model_id != model.model_id:
        return None
    photo = bytes(row.photo_jpeg) if row.photo_jpeg is not None else None
    return KeptQuery(np.frombuffer(bytes(row.vector), dtype=np.float32), photo)


def query_photo_vector(token: str, *, model: EmbeddingModel) -> np.ndarray | None:
    """The kept vector under ``token`` if it is still kept and ``model``'s, for a listener that
    got the token from the search it ran (search.events.SearchDone.photo_token); None otherwise."""
    if not TOKEN.match(token or ""):
        return None
    row = (
        QueryPhoto.objects.filter(token=token, expires_at__gt=timezone.now()).values_list("model_id", "vector").first()
    )
    if row is None or row[0] != model.model_id:
        return None
    return np.frombuffer(bytes(row[1]), dtype=np.float32).copy()


def query_photos_purge() -> int:
    """Delete expired queries (periodic: ``search.tasks.query_photos_purge``)."""
    deleted, _ = QueryPhoto.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def _owner_hash(owner: str) -> str:
    # Stored hashed: the table then holds no session keys.
    return hashlib.sha256(f"snapshelf-query-photo:{owner}".encode()).hexdigest()


def _jpeg(image: Image.Image) -> bytes:
    copy = image.copy()
    copy.thumbnail((KEPT_PHOTO_SIDE, KEPT_PHOTO_SIDE))
    buffer = io.BytesIO()
    copy.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
