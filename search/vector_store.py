"""The one module with vector SQL: per-model HNSW indexes, vector writes and nearest-neighbour reads.

Vectors of all models share untyped ``vector`` columns. Each model gets partial expression
indexes ``((embedding::vector(dim)) vector_cosine_ops) WHERE model_id = <pk>``; a query uses
the index only when it repeats that expression and predicate, so the model's primary key and
dimension are written into the SQL as integers (a bound parameter would let a generic plan
skip the partial index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection

from search.conf import search_setting
from search.models import EmbeddingModel

TABLES = {"image": "search_imageembedding", "product": "search_productembedding"}
# A float32 vector stored in the row (PLAIN storage) must fit a heap page with the other columns.
MAX_PLAIN_DIM = 1950


@dataclass(frozen=True)
class VectorWrite:
    row_id: int
    vector: np.ndarray
    source_hash: str


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form. Binary would be faster, but Django's cursor sends text parameters."""
    return "[" + ",".join(f"{value:.7g}" for value in vector.astype(np.float32).tolist()) + "]"


def _dim(model: EmbeddingModel, kind: str) -> int:
    return int(model.image_dim if kind == "image" else model.text_dim)


def _cast(model: EmbeddingModel, kind: str, *, halfvec: bool) -> str:
    return f"embedding::{'halfvec' if halfvec else 'vector'}({_dim(model, kind)})"


def hnsw_index_name(model: EmbeddingModel, kind: str) -> str:
    return f"search_{kind}_hnsw_{int(model.pk)}"


def hnsw_indexes_create(model: EmbeddingModel) -> None:
    """Create the model's HNSW cosine indexes (image and product text) unless they exist."""
    halfvec = bool(search_setting("HALFVEC_INDEX"))
    ops = "halfvec_cosine_ops" if halfvec else "vector_cosine_ops"
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # Postgres refuses CREATE INDEX while deferred foreign-key checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"SET maintenance_work_mem = '{int(search_setting('INDEX_BUILD_MEMORY_MB'))}MB'")
        for kind, table in TABLES.items():
            cursor.execute(
                f"CREATE INDEX {concurrently} IF NOT EXISTS {hnsw_index_name(model, kind)} ON {table} "
                f"USING hnsw (({_cast(model, kind, halfvec=halfvec)}) {ops}) "
                f"WITH (m = {int(search_setting('HNSW_M'))}, "
                f"ef_construction = {int(search_setting('HNSW_EF_CONSTRUCTION'))}) "
                f"WHERE model_id = {int(model.pk)}"
            )
        cursor.execute("RESET maintenance_work_mem")
        if connection.in_atomic_block:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def hnsw_indexes_drop(model: EmbeddingModel) -> None:
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        for kind in TABLES:
            cursor.execute(f"DROP INDEX {concurrently} IF EXISTS {hnsw_index_name(model, kind)}")


def hnsw_index_names_present(model: EmbeddingModel) -> list[str]:
    names = [hnsw_index_name(model, kind) for kind in TABLES]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [names])
        return [row[0] for row in cursor.fetchall()]


def vectors_write(kind: str, writes: Sequence[VectorWrite], *, worker: str) -> int:
    """Store finished vectors, but only where this worker still holds the claim, the input is
    the one that was embedded, and the model is still wanted; anything else is discarded."""
    if not writes:
        return 0
    table = TABLES[kind]
    sql = (
        f"UPDATE {table} SET embedding = %s::vector, status = 'ready', error = '', claimed_by = '', "
        "claimed_at = NULL, available_at = NULL, updated_at = now() "
        "WHERE id = %s AND status = 'processing' AND claimed_by = %s AND source_hash = %s "
        "AND model_id IN (SELECT id FROM search_embeddingmodel WHERE status IN ('building', 'active'))"
    )
    params = [(vector_literal(w.vector), w.row_id, worker, w.source_hash) for w in writes]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
        return max(cursor.rowcount, 0)
