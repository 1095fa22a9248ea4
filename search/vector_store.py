"""The one module with vector SQL: per-model HNSW indexes, vector writes and nearest-neighbour reads.

Vectors of all models share untyped ``vector`` columns. Each model gets partial expression
indexes ``((embedding::halfvec(dim)) halfvec_cosine_ops) WHERE model_id = <pk>`` (or
``vector``, or ``binary_quantize(embedding)::bit(dim)`` with ``bit_hamming_ops``:
``EmbeddingModel.index_precision`` records which); a query uses
the index only when it repeats that expression and predicate, so the model's primary key and
dimension are written into the SQL as integers (a bound parameter would let a generic plan
skip the partial index).

Nearest-neighbour reads send the query vector in pgvector's binary format through a
server-side binding cursor (``_vector_cursor``): 2 KB instead of 11 KB of text, no text to build
in Python or parse in Postgres (docs/performance.md, *Search*).

Nearest-neighbour reads (and the estimates and vectors a search reads) go through
``search_connection()`` (search/replicas.py): during a search that is a read replica's connection
when one is configured and usable, else ``default``; index builds and vector writes always use
``default`` (tests/search/test_replicas.py checks which server ran the vector legs).
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.backends.utils import CursorWrapper
from pgvector import Vector
from psycopg.adapt import Dumper
from psycopg.pq import Format

from catalog.models import Product, ProductImage
from search.conf import search_setting
from search.models import EmbeddingModel
from search.replicas import search_connection

TABLES = {"image": "search_imageembedding", "product": "search_productembedding"}
# A float32 vector stored in the row (PLAIN storage) must fit a heap page with the other columns.
MAX_PLAIN_DIM = 1950


@dataclass(frozen=True)
class VectorWrite:
    row_id: int
    vector: np.ndarray
    source_hash: str


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form. Binary would be faster, but Django's cursor sends text parameters.
    One %-format of the whole vector: a third faster than formatting each value on its own."""
    values = vector.astype(np.float32).tolist()
    return "[" + ",".join(["%.7g"] * len(values)) % tuple(values) + "]"


def _dim(model: EmbeddingModel, kind: str) -> int:
    return int(model.image_dim if kind == "image" else model.text_dim)


def _cast(model: EmbeddingModel, kind: str, *, precision: str) -> str:
    """The expression a model's index of this precision is built on (queries repeat it)."""
    dim = _dim(model, kind)
    if precision == EmbeddingModel.IndexPrecision.BIT:
        return f"binary_quantize(embedding)::bit({dim})"
    return f"embedding::{precision}({dim})"


_SUFFIXES: dict[str, str] = {EmbeddingModel.IndexPrecision.HALFVEC: "_half", EmbeddingModel.IndexPrecision.BIT: "_bit"}


def hnsw_index_name(model: EmbeddingModel, kind: str, precision: str) -> str:
    # The name predates halfvec indexes: single-precision indexes keep it.
    return f"search_{kind}_hnsw_{int(model.pk)}{_SUFFIXES.get(precision, '')}"


def index_precision_configured(model: EmbeddingModel) -> str:
    """The precision new HNSW indexes of ``model`` get: SNAPSHELF_INDEX_PRECISION_BY_MODEL[name],
    else SNAPSHELF_INDEX_PRECISION (the deprecated SNAPSHELF_HALFVEC_INDEX still chooses between
    halfvec and vector where SNAPSHELF_INDEX_PRECISION is not set)."""
    from django.conf import settings

    precision = (search_setting("INDEX_PRECISION_BY_MODEL") or {}).get(model.name)
    if precision is None and not hasattr(settings, "SNAPSHELF_INDEX_PRECISION"):
        halfvec = search_setting("HALFVEC_INDEX")
        if halfvec is not None:
            precision = "halfvec" if halfvec else "vector"
    precision = precision or search_setting("INDEX_PRECISION")
    if precision not in EmbeddingModel.IndexPrecision.values:
        choices = ", ".join(EmbeddingModel.IndexPrecision.values)
        raise ImproperlyConfigured(f"Index precision {precision!r} of model {model.name!r}: use one of {choices}.")
    return str(precision)


def hnsw_indexes_create(model: EmbeddingModel) -> None:
    """Build the model's HNSW cosine indexes (image and product text) with the configured
    precision unless they exist, and record that precision on the model (queries follow it)."""
    precision = index_precision_configured(model)
    _hnsw_indexes_build(model, precision, {kind: hnsw_index_name(model, kind, precision) for kind in TABLES})
    if model.index_precision != precision:
        model.index_precision = precision
        model.save(update_fields=["index_precision"])
    # A model activated again may still have indexes of the other precision: no query uses them.
    _indexes_drop([hnsw_index_name(model, kind, other) for kind in TABLES for other in _others(precision)])


def hnsw_indexes_rebuild(model: EmbeddingModel) -> None:
    """Build the model's indexes again with the current settings (precision, m, ef_construction)
    while the old ones keep serving searches, then switch to the new ones."""
    precision = index_precision_configured(model)
    names = {kind: hnsw_index_name(model, kind, precision) for kind in TABLES}
    building = {kind: f"{name}_new" for kind, name in names.items()}
    _indexes_drop(list(building.values()))  # left by an interrupted rebuild (maybe invalid)
    _hnsw_indexes_build(model, precision, building)
    # From here on searches use the new indexes (same expression and predicate; the name does not matter).
    model.index_precision = precision
    model.save(update_fields=["index_precision"])
    hnsw_indexes_drop(model)  # the old ones, under either precision's name
    with connection.cursor() as cursor:
        for kind, name in building.items():
            cursor.execute(f"ALTER INDEX {name} RENAME TO {names[kind]}")


def _hnsw_indexes_build(model: EmbeddingModel, precision: str, names: dict[str, str]) -> None:
    # Binary codes are compared by Hamming distance, then re-ranked by cosine (neighbours_hnsw).
    ops = "bit_hamming_ops" if precision == EmbeddingModel.IndexPrecision.BIT else f"{precision}_cosine_ops"
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            # Postgres refuses CREATE INDEX while deferred foreign-key checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"SET maintenance_work_mem = '{int(search_setting('INDEX_BUILD_MEMORY_MB'))}MB'")
        for kind, table in TABLES.items():
            cursor.execute(
                f"CREATE INDEX {concurrently} IF NOT EXISTS {names[kind]} ON {table} "
                f"USING hnsw (({_cast(model, kind, precision=precision)}) {ops}) "
                f"WITH (m = {int(search_setting('HNSW_M'))}, "
                f"ef_construction = {int(search_setting('HNSW_EF_CONSTRUCTION'))}) "
                f"WHERE model_id = {int(model.pk)}"
            )
        cursor.execute("RESET maintenance_work_mem")
        if connection.in_atomic_block:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _others(precision: str) -> list[str]:
    return [other for other in EmbeddingModel.IndexPrecision if other != precision]


def _index_names_all(model: EmbeddingModel) -> list[str]:
    return [hnsw_index_name(model, kind, precision) for kind in TABLES for precision in EmbeddingModel.IndexPrecision]


def hnsw_indexes_drop(model: EmbeddingModel) -> None:
    _indexes_drop(_index_names_all(model))


def _indexes_drop(names: list[str]) -> None:
    concurrently = "" if connection.in_atomic_block else "CONCURRENTLY"
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP INDEX {concurrently} IF EXISTS {name}")


def hnsw_index_names_present(model: EmbeddingModel) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s) ORDER BY indexname", [_index_names_all(model)]
        )
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


# --- nearest-neighbour reads ---------------------------------------------------------------


@dataclass(frozen=True)
class ProductFilter:
    """A ``SELECT`` of product ids (with its parameters) that vector rows must belong to.
    ``broad``: the filter is known to keep (nearly) every product (only inactive products, or
    one product's own, left out), so no estimate is needed: the index answers."""

    sql: str
    params: tuple[Any, ...]
    broad: bool = False
    # Image vectors left out whatever their product: the self-test's held-out shop photos, which
    # must not count as catalog images while they are asked (insights/services/self_test.py).
    images_excluded: tuple[int, ...] = ()


@dataclass(frozen=True)
class Neighbour:
    item_id: int  # the image id for image vectors, the product id for product-text vectors
    product_id: int
    distance: float  # cosine distance, 0 (same direction) to 2


def _item_column(kind: str) -> str:
    return "e.image_id" if kind == "image" else "e.product_id"


def _where(
    model: EmbeddingModel, product_filter: ProductFilter | None, *, kind: str = "image", ids_first: bool = False
) -> tuple[str, list[Any]]:
    """``ids_first``: the filter's product ids are read first, as one array (an index-only scan
    of the filter's index), and the vector rows then looked up by product id in one index scan;
    for a selective filter. Otherwise the planner may check each candidate row's product (a
    join): for the index path, where only a few hundred candidates are looked at."""
    # The predicate repeats the partial index's "model_id = <pk>" literally (see the module docstring).
    sql = f"e.model_id = {int(model.pk)} AND e.embedding IS NOT NULL"
    if product_filter is None:
        return sql, []
    if ids_first:
        sql, params = f"{sql} AND e.product_id = ANY(ARRAY({product_filter.sql}))", list(product_filter.params)
    else:
        sql, params = f"{sql} AND e.product_id IN ({product_filter.sql})", list(product_filter.params)
    if kind == "image" and product_filter.images_excluded:
        sql, params = f"{sql} AND e.image_id <> ALL(%s)", [*params, list(product_filter.images_excluded)]
    return sql, params


def filtered_rows_estimate(model: EmbeddingModel, kind: str, product_filter: ProductFilter | None) -> int:
    """The planner's estimate of how many of the model's vector rows of this kind pass the filter
    (``None``: how many the model has), from its statistics: EXPLAIN, nothing is read."""
    where, params = _where(model, product_filter, kind=kind)
    with search_connection().cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {TABLES[kind]} e WHERE {where}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):  # psycopg returns EXPLAIN's JSON as text unless a json loader is registered
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def neighbours_exact(
    model: EmbeddingModel, kind: str, vector: np.ndarray, *, limit: int, product_filter: ProductFilter | None = None
) -> list[Neighbour]:
    """Exact nearest neighbours of the rows that pass the filter. ``+ 0`` makes the sort key an
    expression the HNSW index does not serve, so the planner cannot pick the lossy index scan;
    it reads the rows that pass (the filter's product ids first, then their vector rows by
    product id) and keeps a top-N heap."""
    where, params = _where(model, product_filter, kind=kind, ids_first=True)
    dim = _dim(model, kind)
    # The query vector is sent once, as q.v (the planner folds the one-row subquery into a
    # constant, so the plan is the one the literal itself would get).
    distance = f"embedding::vector({dim}) <=> q.v"
    sql = (
        f"SELECT {_item_column(kind)}, e.product_id, {distance} AS distance "
        f"FROM {TABLES[kind]} e, (SELECT %s::vector({dim}) AS v) q "
        f"WHERE {where} ORDER BY ({distance}) + 0, 1 LIMIT {int(limit)}"
    )
    values: list[Any] = [vector, *params]
    with _vector_cursor(prepare=not params) as cursor:
        cursor.execute(sql, values)
        return [Neighbour(int(r[0]), int(r[1]), float(r[2])) for r in cursor.fetchall()]


def neighbours_hnsw(
    model: EmbeddingModel, kind: str, vector: np.ndarray, *, limit: int, product_filter: ProductFilter | None = None
) -> list[Neighbour]:
    """Approximate nearest neighbours through the model's HNSW index.

    ``hnsw.ef_search`` caps how many rows one index scan returns, so it follows ``limit`` (at
    least SEARCH_EF_SEARCH, for recall); an iterative scan (pgvector >= 0.8) keeps scanning past
    it until enough rows pass the filter. A ``bit`` index (and a ``halfvec`` one with
    SEARCH_HALFVEC_RERANK_CANDIDATES) gives candidates, re-ranked by their full-precision
    cosine distance: the distances returned are then exact.
    """
    where, params = _where(model, product_filter, kind=kind)
    precision, dim = model.index_precision, _dim(model, kind)
    key = _cast(model, kind, precision=precision)
    candidates = rerank_candidates(model, limit)
    if precision == EmbeddingModel.IndexPrecision.BIT:
        order = f"{key} <~> binary_quantize(%s::vector({dim}))::bit({dim})"
    else:
        order = f"{key} <=> %s::{precision}({dim})"
    if candidates:
        sql = (
            f"SELECT c.item, c.product_id, c.embedding::vector({dim}) <=> %s::vector({dim}) AS distance FROM "
            f"(SELECT {_item_column(kind)} AS item, e.product_id, e.embedding FROM {TABLES[kind]} e "
            f"WHERE {where} ORDER BY {order} LIMIT {int(candidates)}) c ORDER BY distance LIMIT {int(limit)}"
        )
        values = [vector, *params, vector]
    else:
        # Ordering by the output column is the same expression to the planner (the index serves
        # it) and sends the query vector once instead of twice.
        sql = (
            f"SELECT {_item_column(kind)}, e.product_id, {order} AS distance FROM {TABLES[kind]} e "
            f"WHERE {where} ORDER BY distance LIMIT {int(limit)}"
        )
        values = [vector, *params]
    ef_search = min(max(int(limit), int(candidates), int(search_setting("SEARCH_EF_SEARCH"))), 1000)
    reads = search_connection()  # a read replica's during a search (search/replicas.py)
    settings_sql = _hnsw_settings_sql(ef_search, scope="LOCAL" if reads.in_atomic_block else "SESSION")
    if reads.in_atomic_block:
        # SET LOCAL lasts until the surrounding transaction ends (a session-level SET would be
        # undone by a rollback behind our back); every query sets it again.
        with reads.cursor() as cursor:
            cursor.execute(settings_sql)
    else:
        reads.ensure_connection()
        if _session_hnsw.get(reads.connection) != settings_sql:
            with reads.cursor() as cursor:
                cursor.execute(settings_sql)
            _session_hnsw[reads.connection] = settings_sql
    # Without filter parameters the statement's plan is the same for every query vector: prepared
    # once per connection. With them, a cached generic plan could ignore how selective they are.
    with _vector_cursor(prepare=not params) as cursor:
        cursor.execute(sql, values)
        rows = cursor.fetchall()
    # relaxed_order may return rows slightly out of order.
    return sorted((Neighbour(int(r[0]), int(r[1]), float(r[2])) for r in rows), key=lambda n: (n.distance, n.item_id))


def rerank_candidates(model: EmbeddingModel, limit: int) -> int:
    """How many rows the index gives for re-ranking by full-precision distance (0: none)."""
    if model.index_precision == EmbeddingModel.IndexPrecision.BIT:
        return max(int(search_setting("SEARCH_BIT_RERANK_CANDIDATES")), 4 * int(limit))
    if model.index_precision == EmbeddingModel.IndexPrecision.HALFVEC:
        wanted = int(search_setting("SEARCH_HALFVEC_RERANK_CANDIDATES"))
        return max(wanted, int(limit)) if wanted else 0
    return 0


def _hnsw_settings_sql(ef_search: int, *, scope: str) -> str:
    """``hnsw.ef_search`` caps the rows one index scan returns; the iterative scan goes on past it
    until enough rows pass a filter. One statement, one round trip."""
    statements = [f"SET {scope} hnsw.ef_search = {int(ef_search)}"]
    if iterative_scan_supported():
        statements.append(f"SET {scope} hnsw.iterative_scan = relaxed_order")
        statements.append(f"SET {scope} hnsw.max_scan_tuples = {int(search_setting('SEARCH_MAX_SCAN_TUPLES'))}")
    return "; ".join(statements)


# Per database connection (outside transactions): the hnsw.* values last SET on it. Setting them
# once per connection instead of per query saves a transaction and its round trips on every search;
# only HNSW scans read them, and they are read at run time (safe with cached plans).
_session_hnsw: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


# --- the query vector in binary ----------------------------------------------------------------


class _VectorCursor(psycopg.Cursor[Any]):
    """psycopg's server-side binding cursor (Django's own binds values into the SQL text, which
    cannot carry binary values), preparing its statements when asked: the parse and plan of a
    nearest-neighbour statement are then done once per connection."""

    prepare_statements = False

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        if prepare is None and self.prepare_statements:
            prepare = True
        return super().execute(query, params, prepare=prepare, binary=binary)


class _VectorBinaryDumper(Dumper):
    """A float32 numpy vector as pgvector's binary ``vector`` (dimension, then big-endian floats)."""

    format = Format.BINARY

    def dump(self, obj: np.ndarray) -> bytes:
        return bytes(Vector(obj).to_binary())


_ASKED_ONLY = 2**31 - 1
# Per database connection: the dumper class carrying the ``vector`` type's OID there.
_vector_dumpers: weakref.WeakKeyDictionary[Any, type[Dumper]] = weakref.WeakKeyDictionary()


def _vector_cursor(*, prepare: bool) -> CursorWrapper:
    """A cursor that sends numpy vectors in binary (2 KB at 512-d instead of 11 KB of text),
    wrapped as Django wraps its own (errors, query logging, execute wrappers). On the search's
    connection (search/replicas.py)."""
    reads = search_connection()
    reads.ensure_connection()
    reads.validate_thread_sharing()
    raw = reads.connection
    dumper = _vector_dumpers.get(raw)
    if dumper is None:
        with reads.cursor() as cursor:  # once per connection
            cursor.execute("SELECT 'vector'::regtype::oid")
            oid = int(cursor.fetchone()[0])
        dumper = _vector_dumpers[raw] = type("VectorDumper", (_VectorBinaryDumper,), {"oid": oid})
    vector_cursor = _VectorCursor(raw)
    vector_cursor.adapters.register_dumper(np.ndarray, dumper)
    vector_cursor.prepare_statements = prepare and bool(search_setting("SEARCH_PREPARED_STATEMENTS"))
    if vector_cursor.prepare_statements and raw.prepare_threshold is None:
        # Django turns psycopg's preparing off (prepare_threshold None), which also ignores
        # prepare=True. A threshold never reached prepares only the statements asked for: Django's
        # own cursors bind on the client and never prepare.
        raw.prepare_threshold = _ASKED_ONLY
    # Both take the database driver's cursor (django-stubs types it as Django's wrapper).
    if reads.queries_logged:
        return reads.make_debug_cursor(vector_cursor)  # type: ignore[arg-type]
    return reads.make_cursor(vector_cursor)  # type: ignore[arg-type]


@functools.cache
def _extension_version(alias: str) -> tuple[int, ...]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return tuple(int(part) for part in (row[0] if row else "0").split(".") if part.isdigit())


def iterative_scan_supported() -> bool:
    return _extension_version(search_connection().alias) >= (0, 8)


def image_vector_counts(
    model: EmbeddingModel, product_ids: Sequence[int], *, images_excluded: Sequence[int] = ()
) -> dict[int, int]:
    """How many image vectors of the model each of these products has (``images_excluded`` not counted)."""
    with search_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT e.product_id, count(*) FROM {TABLES['image']} e "
            f"WHERE {_where(model, None)[0]} AND e.product_id = ANY(%s) AND e.image_id <> ALL(%s) "
            "GROUP BY e.product_id",
            [list(product_ids), list(images_excluded)],
        )
        return {int(row[0]): int(row[1]) for row in cursor.fetchall()}


def vectors_of_images(model: EmbeddingModel, image_ids: Sequence[int]) -> dict[int, np.ndarray]:
    """The model's stored vectors of these images (for "similar products")."""
    with search_connection().cursor() as cursor:
        cursor.execute(
            f"SELECT e.image_id, e.embedding::text FROM {TABLES['image']} e "
            f"WHERE {_where(model, None)[0]} AND e.image_id = ANY(%s)",
            [list(image_ids)],
        )
        return {int(row[0]): np.array(json_vector(row[1]), dtype=np.float32) for row in cursor.fetchall()}


def json_vector(text: str) -> list[float]:
    """pgvector's text form ``[1,2,3]`` is also JSON."""
    return [float(value) for value in json.loads(text)]


@dataclass(frozen=True)
class ImageVectors:
    """Stored image vectors with the rows they belong to, in one order."""

    image_ids: list[int]
    product_ids: list[int]
    search_only: list[bool]
    vectors: np.ndarray  # (N, dim)


def image_vectors_sample(model: EmbeddingModel, *, size: int, salt: str) -> ImageVectors:
    """Up to ``size`` image vectors of the model's active products (for calibration), drawn the
    same way every time for the same catalog and ``salt``: in the order of a hash of the salt, the
    product's SKU and the image's bytes (SHA-256), never of database ids (two databases holding
    the same catalog number its rows differently) or ``random()``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.image_id, e.product_id, i.search_only, e.embedding::text FROM {TABLES['image']} e "
            f"JOIN {ProductImage._meta.db_table} i ON i.id = e.image_id "
            f"JOIN {Product._meta.db_table} p ON p.id = e.product_id "
            f"WHERE {_where(model, None)[0]} AND p.is_active "
            "ORDER BY md5(%s || '|' || p.sku || '|' || i.sha256), e.image_id LIMIT %s",
            [salt, int(size)],
        )
        return _image_vectors(model, cursor.fetchall())


def image_vectors_of_products(model: EmbeddingModel, product_ids: Sequence[int]) -> ImageVectors:
    """Every stored image vector of these products."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.image_id, e.product_id, i.search_only, e.embedding::text FROM {TABLES['image']} e "
            f"JOIN {ProductImage._meta.db_table} i ON i.id = e.image_id "
            f"WHERE {_where(model, None)[0]} AND e.product_id = ANY(%s) ORDER BY e.image_id",
            [list(product_ids)],
        )
        return _image_vectors(model, cursor.fetchall())


def text_vectors_sample(model: EmbeddingModel, *, size: int, salt: str) -> np.ndarray:
    """Up to ``size`` product text vectors of the model's active products (for calibration), drawn
    as image_vectors_sample draws images: in the order of a hash of the salt and the SKU."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.embedding::text FROM {TABLES['product']} e "
            f"JOIN {Product._meta.db_table} p ON p.id = e.product_id "
            f"WHERE {_where(model, None, kind='product')[0]} AND p.is_active "
            "ORDER BY md5(%s || '|' || p.sku), e.product_id LIMIT %s",
            [salt, int(size)],
        )
        vectors = [np.array(json_vector(row[0]), dtype=np.float32) for row in cursor.fetchall()]
    return np.stack(vectors) if vectors else np.zeros((0, _dim(model, "product")), dtype=np.float32)


def _image_vectors(model: EmbeddingModel, rows: list[tuple[Any, ...]]) -> ImageVectors:
    vectors = [np.array(json_vector(row[3]), dtype=np.float32) for row in rows]
    return ImageVectors(
        image_ids=[int(row[0]) for row in rows],
        product_ids=[int(row[1]) for row in rows],
        search_only=[bool(row[2]) for row in rows],
        vectors=np.stack(vectors) if vectors else np.zeros((0, _dim(model, "image")), dtype=np.float32),
    )
