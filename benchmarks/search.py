"""Search latency and recall, measured side by side in one run, on throwaway embedded servers.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295 \\
        python -m benchmarks.search [--rows 100000] [--fashion 1000] [--queries 200] [--url URL]
            [--precisions halfvec,bit,vector] [--exact-queries 50] [--build-memory-mb 2048]
            [--fashion-crops 1000000 --feature-cache DIR]

1. Synthetic: ``--rows`` clustered unit vectors (512-d) written straight into the index tables
   (products with prices, categories, brands, stock and a colour attribute made with SQL, vectors
   by binary COPY). For each of ``--precisions`` (the first is measured with filters): the HNSW
   index built with the project's settings (build time, size, memory per million vectors);
   p50/p95 of the project's vector read (search/vector_store.py), of the service's unfiltered leg
   (search/services/vector_legs.py) and of plain psycopg on the same index (binary vector,
   prepared statement: what pgvector alone can do), against an exact scan; recall@10 against
   exact distances computed in numpy over all vectors. Then filters on price, category subtree,
   stock, brand and colour keeping 1%, 10% and 50% of the rows through the service's strategy.
2. Fashion: the first ``--fashion`` products of ../shared/datasets/fashion imported and embedded
   with the offline preset; the same photo measures with a category filter keeping ~10%.
3. Request overhead on the fashion catalog: the search service, a whole storefront search and a
   whole REST API search (Django test client: middleware, form or serializers, service, template
   or JSON) and, with ``--url``, any URL, against text encoding plus raw SQL: the legs' SQL alone,
   every statement the request itself sends replayed on a bare cursor, and (the baseline closest
   to the request) the text encoded and then those statements replayed at once, timed as one.
4. Fashion-derived crops (``--fashion-crops N``): N 1408-d vectors of the offline preset, several
   stored crops per fashion product, pooled from regions of each photo's one feature map (the
   recipe is at *fashion-derived crops* below); queries are shopper-like copies of held-out
   products' photos embedded as query photos; the halfvec index's build, size, p50/p95 against
   the exact scan, recall@10 of rows (and of products for the service leg) against exact answers
   in numpy, and the filter lines on real categories and colours.

Every timed line ends with the 1-minute load average when it finished (the machine may be shared).
Uses config.settings.test: its own Postgres and Redis in a temporary folder, never .data/.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

# WhiteNoise warns once per request that collectstatic has not run; irrelevant here.
warnings.filterwarnings("ignore", message="No directory at")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

import django  # noqa: E402

django.setup()
# WhiteNoise warns on every request that collectstatic has not run; irrelevant here.
warnings.filterwarnings("ignore", message="No directory at")

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402

from benchmarks.quality.datasets import FASHION  # noqa: E402  (SNAPSHELF_DATASETS_DIR or ../shared/datasets)
from catalog.importing.readers import read_fashion_csv  # noqa: E402
from catalog.importing.runner import CatalogImporter  # noqa: E402
from catalog.models import Category, Product  # noqa: E402
from catalog.selectors import category_subtree_ids  # noqa: E402
from catalog.services import category_get_or_create_path  # noqa: E402
from search.conf import search_setting  # noqa: E402
from search.embedders.base import l2_normalise  # noqa: E402
from search.embedders.offline import CNN_DIM, HIST_DIM, hsv_bins, image_square  # noqa: E402
from search.embedders.registry import embedder_get  # noqa: E402
from search.models import EmbeddingModel  # noqa: E402
from search.services import keywords  # noqa: E402
from search.services.index_queue import embeddings_process_available  # noqa: E402
from search.services.model_switch import embedding_model_activate  # noqa: E402
from search.services.product_search import (  # noqa: E402
    SearchFilters,
    SearchQuery,
    product_filter_build,
    product_search,
)
from search.services.vector_legs import exact_scan_chosen, neighbours, products_nearest  # noqa: E402
from search.shopper_photos import shopper_photo  # noqa: E402
from search.vector_store import (  # noqa: E402
    _cast,
    filtered_rows_estimate,
    hnsw_index_name,
    hnsw_indexes_create,
    hnsw_indexes_rebuild,
    neighbours_exact,
    neighbours_hnsw,
    rerank_candidates,
    vector_literal,
)

DIM = 512
K = 10


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    scores = [len(set(f[:K]) & set(t[:K])) / max(1, min(K, len(t))) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(scores))


def line(label: str, times: list[float], extra: str = "") -> None:
    load = os.getloadavg()[0]
    print(f"  {label:<38} p50 {p(times, 50):8.2f} ms   p95 {p(times, 95):8.2f} ms   {extra}  [load {load:.1f}]",
          flush=True)  # fmt: skip


# --- synthetic vectors ----------------------------------------------------------------------


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray, *, chunk: int = 200_000) -> np.ndarray:
    """``n`` unit vectors around random centres (made ``chunk`` at a time: a million at once would
    take 4 GB of float64 noise)."""
    parts = []
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        picks = rng.integers(0, len(centres), size)
        vectors = centres[picks] + rng.normal(0, 0.6 / np.sqrt(DIM) * 4, (size, DIM)).astype(np.float32)
        parts.append((vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, DIM), dtype=np.float32)


# Each synthetic product's filter fields come from its own hash bucket (0-99, one per field, so
# the fields are independent). Categories nest (buckets 0, 0-9, 0-49 are the 1%, 10% and 50%
# subtrees); a brand or colour is one value (bucket 0, 1-10, 11-60: 1%, 10%, 50%).
BUCKET = "abs(hashint4extended(i, {seed})) %% 100"  # %%: the statement has parameters
SHARE_VALUE = "CASE WHEN {b} = 0 THEN '{p}1' WHEN {b} <= 10 THEN '{p}10' WHEN {b} <= 60 THEN '{p}50' ELSE '{p}x' END"


def synthetic_load(rows: int, rng: np.random.Generator, centres: np.ndarray) -> tuple[EmbeddingModel, dict]:
    """``rows`` products with one image vector each. Returns the model and, in image row order,
    the vectors and each row's product id and filter buckets (for the exact answers in numpy)."""
    model = EmbeddingModel.objects.create(
        name="bench-synthetic", model_id=f"bench-synthetic-{DIM}", image_dim=DIM, text_dim=DIM,
        shared_space=False, status="retired",
    )  # fmt: skip
    # Category subtrees keeping 50%, 10% and 1%: Share50 > Share10 > Share1, the rest in Other.
    share50 = Category.objects.create(name="Share50", slug="share50")
    share10 = Category.objects.create(name="Share10", slug="share10", parent=share50)
    share1 = Category.objects.create(name="Share1", slug="share1", parent=share10)
    other = Category.objects.create(name="Other", slug="other")
    category_bucket, brand_bucket, colour_bucket, stock_bucket = (BUCKET.format(seed=seed) for seed in (1, 2, 3, 4))
    with connection.cursor() as cursor:
        # Prices 0.00-99.00 in steps of 1 (i % 100): "price <= x" keeps x + 1 % of the rows.
        # Brands "Brand1"/"Brand10"/"Brand50"/"Brandx", colours "Tone1"... (searched in lower case).
        cursor.execute(
            "INSERT INTO catalog_product (sku, title, description, brand, category_id, price, currency, stock, "
            "in_stock, attributes, url, is_active, created_at, updated_at) SELECT 'SYN-' || i, 'Synthetic ' || i, '', "
            f"{SHARE_VALUE.format(b=brand_bucket, p='Brand')}, "
            f"CASE WHEN {category_bucket} = 0 THEN {share1.pk} WHEN {category_bucket} < 10 THEN {share10.pk} "
            f"WHEN {category_bucket} < 50 THEN {share50.pk} ELSE {other.pk} END, "
            f"(i %% 100), 'EUR', 1, {stock_bucket} <> 0, "
            f"jsonb_build_object('colour', {SHARE_VALUE.format(b=colour_bucket, p='Tone')}), "
            "'', true, now(), now() FROM generate_series(1, %s) i",
            [rows],
        )
        cursor.execute(
            "INSERT INTO catalog_productimage (product_id, file, position, alt_text, width, height, sha256, "
            "source_url, search_only, thumbnails, thumbnails_of, created_at, updated_at) SELECT id, 'synthetic.png', "
            "0, '', 1, 1, md5(sku), '', false, '{}', '', now(), now() FROM catalog_product WHERE sku LIKE 'SYN-%%'"
        )
        cursor.execute(
            "SELECT i.id, i.product_id, p.price, p.category_id, p.brand, p.in_stock, p.attributes->>'colour' "
            "FROM catalog_productimage i JOIN catalog_product p ON p.id = i.product_id "
            "WHERE i.file = 'synthetic.png' ORDER BY i.id"
        )
        table = cursor.fetchall()
    categories = {share1.pk: 0, share10.pk: 5, share50.pk: 30, other.pk: 99}
    values = {"1": 0, "10": 5, "50": 30, "x": 99}  # a bucket standing for each value's share
    meta = {
        "product": np.array([row[1] for row in table]),
        "price": np.array([float(row[2]) for row in table]),
        "category": np.array([categories[row[3]] for row in table]),
        "brand": np.array([values[row[4].removeprefix("Brand")] for row in table]),
        "in_stock": np.array([bool(row[5]) for row in table]),
        "colour": np.array([values[row[6].removeprefix("Tone")] for row in table]),
        "categories": {"1%": share1, "10%": share10, "50%": share50},
    }
    register_vector(connection.connection)
    vectors = clustered(rng, len(table), centres)
    meta["vectors"] = vectors
    start = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            "COPY search_imageembedding (image_id, product_id, model_id, embedding, status, error, attempts, "
            "source_hash, claimed_by, updated_at) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(
            ["int8", "int8", "int8", "vector", "varchar", "text", "int2", "varchar", "varchar", "timestamptz"]
        )
        now = django.utils.timezone.now()
        for row, vector in zip(table, vectors, strict=True):
            copy.write_row([row[0], row[1], model.pk, vector, "ready", "", 1, "", "", now])
    with connection.cursor() as cursor:
        # VACUUM as autovacuum would have by now: the visibility map lets the filters' indexes
        # answer product ids without reading the product table (index-only scans).
        cursor.execute("VACUUM ANALYZE catalog_product")
        cursor.execute("VACUUM ANALYZE search_imageembedding")
        # Let CREATE INDEX use both cores (pgvector builds HNSW in parallel).
        cursor.execute("ALTER TABLE search_imageembedding SET (parallel_workers = 2)")
        cursor.execute("SELECT pg_table_size('search_imageembedding'), pg_table_size('catalog_product')")
        vectors_bytes, products_bytes = cursor.fetchone()
    print(f"  {rows:,} products and image vectors written ({time.perf_counter() - start:.0f} s for the vectors); "
          f"vector table {vectors_bytes / 2**20:,.0f} MiB ({vectors_bytes / rows * 1e6 / 2**30:.2f} GiB per million "
          f"rows, full-precision vectors in the row), product table {products_bytes / 2**20:,.0f} MiB")  # fmt: skip
    return model, meta


def synthetic_filters(meta: dict) -> dict[str, tuple[SearchFilters, np.ndarray]]:
    """Shoppers' filters keeping about 1%, 10% and 50% of the rows, each with its numpy mask."""
    filters: dict[str, tuple[SearchFilters, np.ndarray]] = {}
    for share, bucket in (("1%", 0), ("10%", 9), ("50%", 49)):
        filters[f"price {share}"] = (SearchFilters(price_max=Decimal(bucket)), meta["price"] <= bucket)
        filters[f"category {share}"] = (SearchFilters(category=meta["categories"][share]), meta["category"] <= bucket)
        value = share.rstrip("%")
        filters[f"brand {share}"] = (SearchFilters(brand=f"brand{value}"), meta["brand"] == values_bucket(value))
        filters[f"colour {share}"] = (
            SearchFilters(attributes={"colour": f"tone{value}"}),
            meta["colour"] == values_bucket(value),
        )
    filters["out of stock 1%"] = (SearchFilters(in_stock=False), ~meta["in_stock"])
    filters["in stock 99%"] = (SearchFilters(in_stock=True), meta["in_stock"])
    return filters


def values_bucket(value: str) -> int:
    return {"1": 0, "10": 5, "50": 30}[value]


def exact_numpy(meta: dict, queries: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, list[list[int]]]:
    """The true top-10 products for every query under every mask ("" is no filter): cosine
    distances over all vectors in numpy, float32 like Postgres'."""
    vectors, products = meta["vectors"], meta["product"]
    truth: dict[str, list[list[int]]] = {name: [] for name in ["", *masks]}
    for start in range(0, len(queries), 16):
        scores = queries[start : start + 16] @ vectors.T  # higher is nearer (unit vectors)
        for name in truth:
            rows = np.flatnonzero(masks[name]) if name else None
            subset = scores if rows is None else scores[:, rows]
            for row_scores in subset:
                top = np.argpartition(-row_scores, K)[:K]
                top = top[np.argsort(-row_scores[top])]
                truth[name].append([int(products[t if rows is None else rows[t]]) for t in top])
    return truth


def index_build(model: EmbeddingModel, precision: str, first: bool) -> None:
    with override_settings(SNAPSHELF_INDEX_PRECISION=precision):
        start = time.perf_counter()
        (hnsw_indexes_create if first else hnsw_indexes_rebuild)(model)
        seconds = time.perf_counter() - start
    model.refresh_from_db()
    rows = BENCH["rows"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s)", [hnsw_index_name(model, "image", precision)])
        size = cursor.fetchone()[0]
    print(f"\n## {precision} index over {rows:,} x {model.image_dim}: built in {seconds:.1f} s, "
          f"{size / 2**20:,.0f} MiB "
          f"({size / rows * 1e6 / 2**30:.2f} GiB per million vectors)  [load {os.getloadavg()[0]:.1f}]")  # fmt: skip


BENCH: dict[str, Any] = {}


def plain_psycopg(
    model: EmbeddingModel, precision: str, ef_search: int, *, transport: str = "binary, prepared"
) -> Callable[[np.ndarray], list[int]]:
    """pgvector alone on the same index: its own connection, binary vector, prepared statement,
    ``hnsw.ef_search`` set once, product ids only. ``transport`` "binary" leaves out preparing;
    "text" sends the vector as text in the statement, not prepared (Django's cursor: what the
    project did before issue 15)."""
    params = {k: v for k, v in connection.get_connection_params().items() if k in ("dbname", "user", "host", "port",
                                                                                   "password")}  # fmt: skip
    raw = psycopg.connect(**params, autocommit=True)
    register_vector(raw)
    raw.execute(f"SET hnsw.ef_search = {int(ef_search)}")
    key = _cast(model, "image", precision=precision)
    where = f"model_id = {model.pk} AND embedding IS NOT NULL"
    dim = model.image_dim
    column = "image_id" if BENCH.get("item_ids") else "product_id"  # what recall compares (see ids())
    if precision == "bit":
        candidates = rerank_candidates(model, K)
        sql = (
            f"SELECT {column} FROM (SELECT {column}, embedding FROM search_imageembedding WHERE {where} "
            f"ORDER BY {key} <~> binary_quantize(%s::vector({dim}))::bit({dim}) LIMIT {candidates}) c "
            f"ORDER BY embedding::vector({dim}) <=> %s::vector({dim}) LIMIT {K}"
        )
    else:
        sql = (f"SELECT {column} FROM search_imageembedding WHERE {where} "
               f"ORDER BY {key} <=> %s::{precision}({dim}) LIMIT {K}")  # fmt: skip
    cursor = raw.cursor()
    arguments = 2 if precision == "bit" else 1

    def search(query: np.ndarray) -> list[int]:
        cursor.execute(sql, [query] * arguments, prepare=transport == "binary, prepared", binary=True)
        return [row[0] for row in cursor.fetchall()]

    client_bound = psycopg.ClientCursor(raw)

    def search_text(query: np.ndarray) -> list[int]:
        client_bound.execute(sql, [vector_literal(query)] * arguments)
        return [row[0] for row in client_bound.fetchall()]

    return search_text if transport == "text" else search


def unfiltered_section(model: EmbeddingModel, queries: np.ndarray, truth: list[list[int]], exact_p95: float,
                       ef_values: list[int], truth_products: list[list[int]] | None = None) -> None:  # fmt: skip
    """``truth``: the exact top 10 as ids() gives them; ``truth_products``: the exact 10 nearest
    products, each once (the service leg's answer; the same as ``truth`` with one vector per product)."""
    truth_products = truth if truth_products is None else truth_products
    precision = model.index_precision
    broad = product_filter_build(SearchFilters())
    for ef_search in ef_values:
        with override_settings(SNAPSHELF_SEARCH_EF_SEARCH=ef_search):
            ef = max(ef_search, rerank_candidates(model, K))
            times, results = timed_interleaved(
                {
                    "plain": plain_psycopg(model, precision, ef),
                    "own": lambda q: neighbours_hnsw(model, "image", q, limit=K),
                    "leg": lambda q: products_nearest(model, "image", q, products=K, product_filter=broad),
                    **(
                        {
                            f"plain psycopg, {transport}": plain_psycopg(model, precision, ef, transport=transport)
                            for transport in ("binary", "text")
                        }
                        if BENCH.get("transport_lines")
                        else {}
                    ),
                },
                queries,
            )
            plain_t, own_t, leg_t = times.pop("plain"), times.pop("own"), times.pop("leg")
            plain_r, own_r, leg_r = results.pop("plain"), results.pop("own"), results.pop("leg")
        label = f"{precision} ef_search {ef}"
        line(f"plain psycopg, {label}", plain_t, f"recall@10 {recall(plain_r, truth):.3f}  "
             f"1/{exact_p95 / p(plain_t, 95):.1f} of exact p95")  # fmt: skip
        line(f"vector_store, {label}", own_t, f"recall@10 {recall(ids(own_r), truth):.3f}  "
             f"1/{exact_p95 / p(own_t, 95):.1f} of exact p95")  # fmt: skip
        line(f"service leg, {label}", leg_t, f"recall@10 {recall(product_ids(leg_r), truth_products):.3f}  "
             f"1/{exact_p95 / p(leg_t, 95):.1f} of exact p95")  # fmt: skip
        for name, variant_t in times.items():  # --transport-lines
            line(f"{name}", variant_t, f"recall@10 {recall(results[name], truth):.3f}  "
                 f"p50 {p(variant_t, 50) / p(plain_t, 50):.2f}x plain's")  # fmt: skip


def filtered_section(model: EmbeddingModel, queries: np.ndarray, meta: dict, truth: dict[str, list[list[int]]],
                     filters: dict[str, tuple[SearchFilters, np.ndarray]]) -> None:  # fmt: skip
    print(f"\n## Filters ({model.index_precision} index; service strategy: estimate, exact scan at most "
          f"{search_setting('SEARCH_EXACT_SCAN_MAX_ROWS'):,} rows or "
          f"{search_setting('SEARCH_EXACT_SCAN_MAX_SHARE'):.1%} of the model's vectors, "
          "else HNSW iterative scan)")  # fmt: skip
    for label, (search_filters, mask) in filters.items():
        product_filter = product_filter_build(search_filters)
        estimate = filtered_rows_estimate(model, "image", product_filter)
        path = "exact" if exact_scan_chosen(model, "image", product_filter) else "hnsw"
        times, found = timed_each(
            lambda q, f=product_filter: neighbours(model, "image", q, limit=K, product_filter=f), queries
        )
        line(f"{label} ({mask.mean():.1%}): {path}", times, f"recall@10 {recall(ids(found), truth[label]):.3f}  "
             f"estimate {estimate:,} rows, {int(mask.sum()):,} pass")  # fmt: skip
        if mask.mean() <= BENCH["forced_max_share"]:  # where the choice is close: each path on its own
            for forced, function in (("exact", neighbours_exact), ("hnsw", neighbours_hnsw)):
                times, found = timed_each(
                    lambda q, f=product_filter, g=function: g(model, "image", q, limit=K, product_filter=f), queries
                )
                line(f"  {label}: {forced} only", times, f"recall@10 {recall(ids(found), truth[label]):.3f}  "
                     f"{np.mean([len(x) for x in found]):.1f} rows")  # fmt: skip


def synthetic_section(args: argparse.Namespace, rng: np.random.Generator) -> None:
    print(f"\n## Synthetic: {args.rows:,} vectors")
    centres = rng.normal(size=(100, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    model, meta = synthetic_load(args.rows, rng, centres)
    BENCH.update(rows=args.rows, forced_max_share=args.forced_max_share, transport_lines=args.transport_lines)
    queries = clustered(rng, args.queries, centres)
    filters = synthetic_filters(meta)
    start = time.perf_counter()
    truth = exact_numpy(meta, queries, {label: mask for label, (_, mask) in filters.items()})
    print(f"  exact answers in numpy for {len(queries)} queries x {len(filters) + 1} filters: "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    exact_queries = queries[: args.exact_queries]
    exact_t, exact_r = timed_each(lambda q: neighbours_exact(model, "image", q, limit=K), exact_queries)
    line(f"exact scan, no filter ({len(exact_queries)} queries)", exact_t,
         f"agrees with numpy: recall@10 {recall(ids(exact_r), truth[''][: len(exact_queries)]):.3f}")  # fmt: skip
    exact_p95 = p(exact_t, 95)
    ef_values = [int(v) for v in args.ef_search.split(",")] if args.ef_search else [search_setting("SEARCH_EF_SEARCH")]
    with override_settings(SNAPSHELF_INDEX_BUILD_MEMORY_MB=args.build_memory_mb):
        for number, precision in enumerate(args.precisions.split(",")):
            index_build(model, precision, first=number == 0)
            unfiltered_section(model, queries, truth[""], exact_p95, ef_values)
            if precision == "halfvec" and args.halfvec_rerank:
                with override_settings(SNAPSHELF_SEARCH_HALFVEC_RERANK_CANDIDATES=args.halfvec_rerank):
                    print(f"  re-ranked from the full vectors ({args.halfvec_rerank} candidates):")
                    unfiltered_section(model, queries, truth[""], exact_p95, ef_values[:1])
            if number == 0 and args.filters:
                filtered_section(model, queries, meta, truth, filters)


def vector_section(title: str, model: EmbeddingModel, queries: np.ndarray, filters: dict[str, SearchFilters]) -> None:
    print(f"\n## {title}")
    exact_t, exact_r = timed_each(lambda q: neighbours_exact(model, "image", q, limit=K), queries)
    hnsw_t, hnsw_r = timed_each(lambda q: neighbours_hnsw(model, "image", q, limit=K), queries)
    r = recall(ids(hnsw_r), ids(exact_r))
    line("exact scan, no filter", exact_t)
    line(f"HNSW ({model.index_precision} index), no filter", hnsw_t, f"recall@10 {r:.3f}")
    print(f"  -> HNSW p95 / exact p95 = 1/{p(exact_t, 95) / p(hnsw_t, 95):.1f}")
    for label, search_filters in filters.items():
        product_filter = product_filter_build(search_filters)
        truth_t, truth = timed_each(
            lambda q, f=product_filter: neighbours_exact(model, "image", q, limit=K, product_filter=f), queries
        )
        auto_t, auto = timed_each(
            lambda q, f=product_filter: neighbours(model, "image", q, limit=K, product_filter=f), queries
        )
        forced_t, forced = timed_each(
            lambda q, f=product_filter: neighbours_hnsw(model, "image", q, limit=K, product_filter=f), queries
        )
        rows = np.mean([len(x) for x in forced])
        line(f"filter {label}: exact scan", truth_t)
        line(f"filter {label}: HNSW iterative only", forced_t, f"recall@10 {recall(ids(forced), ids(truth)):.3f}, "
                                                              f"{rows:.1f} rows")  # fmt: skip
        line(f"filter {label}: service strategy", auto_t, f"recall@10 {recall(ids(auto), ids(truth)):.3f}")


def timed_interleaved(
    functions: dict[str, Callable[[Any], Any]], queries: Sequence[Any]
) -> tuple[dict[str, list[float]], dict[str, list[Any]]]:
    """timed_each for several paths, one query through every path in turn (after one untimed
    pass each): load from other processes on a shared machine then falls on all of them alike."""
    for function in functions.values():
        for query in queries:
            function(query)
    times: dict[str, list[float]] = {name: [] for name in functions}
    results: dict[str, list[Any]] = {name: [] for name in functions}
    for query in queries:
        for name, function in functions.items():
            start = time.perf_counter()
            results[name].append(function(query))
            times[name].append((time.perf_counter() - start) * 1000)
    return times, results


def timed_each(function: Callable[[Any], Any], queries: Sequence[Any]) -> tuple[list[float], list[Any]]:
    """Milliseconds per call, one call per query, and the results. Every query runs once first,
    untimed: each path is measured in its steady state, with the pages it reads cached as on a
    server that keeps answering searches (the first pass after an index build or after another
    path's scans reads from the OS cache and lifts p95 by a few milliseconds)."""
    for query in queries:
        function(query)
    times, results = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(function(query))
        times.append((time.perf_counter() - start) * 1000)
    return times, results


def ids(results: list) -> list[list[int]]:  # type: ignore[type-arg]
    """What recall compares: product ids (one vector per product), or with several vectors per
    product (BENCH["item_ids"], the fashion crops) the rows' own image ids."""
    if BENCH.get("item_ids"):
        return [[n.item_id for n in result] for result in results]
    return [[n.product_id for n in result] for result in results]


def product_ids(results: list) -> list[list[int]]:  # type: ignore[type-arg]
    return [[m.product_id for m in result] for result in results]


# --- fashion --------------------------------------------------------------------------------


def fashion_load(count: int) -> EmbeddingModel:
    rows = itertools.islice(read_fashion_csv(FASHION / "metadata.csv"), count)
    start = time.perf_counter()
    report = CatalogImporter(images_dir=FASHION).run(rows)
    print(f"  imported {report.created:,} products in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    embedding_model_activate("offline")
    embeddings_process_available(time_budget=3600)
    print(f"  embedded with the offline preset in {time.perf_counter() - start:.0f} s")
    return EmbeddingModel.objects.get(status="active")


def fashion_filters(count: int) -> dict[str, SearchFilters]:
    sizes = {c: Product.objects.filter(category_id__in=category_subtree_ids(c)).count() for c in Category.objects.all()}
    category = min(sizes, key=lambda c: abs(sizes[c] - count / 10))
    return {f"category {category.name} ({sizes[category] / count:.0%})": SearchFilters(category=category)}


def fashion_queries(model: EmbeddingModel, n: int) -> np.ndarray:
    from search.vector_store import vectors_of_images

    all_ids = list(Product.objects.order_by("pk").values_list("images__id", flat=True))
    picked = all_ids[:: max(1, len(all_ids) // n)][:n]
    return np.stack(list(vectors_of_images(model, picked).values()))


def request_section(queries: int, url: str) -> None:
    """Each step's time against text encoding plus raw SQL, three ways: a separately timed encoding
    plus the legs' SQL alone (run through the same functions as the service); that encoding plus
    every statement the step itself sends (captured once per query text, then replayed on a bare
    psycopg cursor each round); and the encoding timed inside the same request plus its own
    statements (encoding inside a request runs after other work and varies with it)."""
    print("\n## Request overhead (fashion catalog, offline preset, text query)")
    texts = ["blue shirts", "black watch", "red dress", "white sports shoes", "brown leather belt"]
    embedder = embedder_get("offline")
    model = EmbeddingModel.objects.get(status="active")
    product_filter = product_filter_build(SearchFilters())
    depth = 25

    def encode(text: str) -> np.ndarray:
        return embedder.embed_texts([text])[0]

    # The encoding time spent inside the step being timed (the service uses this same instance).
    inside = {"ms": 0.0}
    embed_texts = embedder.embed_texts

    def embed_texts_timed(texts: Sequence[str]) -> np.ndarray:
        start = time.perf_counter()
        try:
            return embed_texts(texts)
        finally:
            inside["ms"] += (time.perf_counter() - start) * 1000

    embedder.embed_texts = embed_texts_timed  # type: ignore[method-assign]

    def legs_sql(text: str, vector: np.ndarray) -> None:
        words = keywords.query_words(text)
        keywords.sku_matches(text, product_filter, limit=depth)
        keywords.keyword_hits(words, product_filter, limit=depth)
        neighbours(model, "product", vector, limit=depth, product_filter=product_filter)

    vectors = {text: encode(text) for text in texts}
    register_vector(connection.connection)
    client = Client()
    from storeapi.services.api_keys import api_key_create

    # A read key with a rate far above this benchmark's request count.
    _, api_key = api_key_create(name="benchmark", kind="read", throttle_rate="100000/min")
    steps: dict[str, Callable[[str], Any]] = {
        "service": lambda text: product_search(SearchQuery(text=text)),
        "view": lambda text: client.get("/search/", {"q": text}),
        "api": lambda text: client.post(
            "/api/v1/search/", {"text": text}, content_type="application/json", HTTP_X_API_KEY=api_key
        ),
    }
    if url:

        def fetch(text: str) -> None:
            with urllib.request.urlopen(url.replace("{q}", urllib.parse.quote(text)), timeout=30) as response:
                response.read()

        steps["url"] = fetch
    # The first round of every text warms caches and makes the result pages' thumbnails; the
    # second captures the SQL each step sends for each text.
    for text in texts:
        for step in steps.values():
            step(text)
    # Captured twice, the shorter kept: the steady state, without the reads a process repeats only
    # once a second or so (the active model's row, the category tree's version).
    captured = {
        (name, text): min(statements_of(step, text), statements_of(step, text), key=len)
        for name, step in steps.items()
        for text in texts
    }
    client_bound = psycopg.ClientCursor(connection.connection)
    server_bound = psycopg.Cursor(connection.connection)  # register_vector: numpy vectors in binary

    def replay(statements: list[Statement]) -> None:
        for sql, params, on_server in statements:
            raw = server_bound if on_server else client_bound
            raw.execute(sql, params)
            if raw.description is not None:
                raw.fetchall()

    def encoded_then_replayed(name: str, text: str) -> None:
        encode(text)
        replay(captured[(name, text)])

    timed: dict[str, Callable[[str], Any]] = {
        "encode": encode,
        "legs sql": lambda text: legs_sql(text, vectors[text]),
        **{f"{name} sql": (lambda text, n=name: replay(captured[(n, text)])) for name in steps},
    }
    for name, step in steps.items():
        # Each step right after its baseline: the text encoded, then the statements the step
        # sends replayed at once, as in the request (after the encoder's work, caches are cold).
        timed[f"{name} baseline"] = lambda text, n=name: encoded_then_replayed(n, text)
        timed[name] = step
    # Interleaved, one query through every step in turn: load from other processes on a shared
    # machine then affects all of them alike, and the differences stay meaningful.
    times: dict[str, list[float]] = {name: [] for name in timed}
    without_encoding: dict[str, list[float]] = {name: [] for name in timed}
    for index in range(queries):
        text = texts[index % len(texts)]
        for name, step in timed.items():
            inside["ms"] = 0.0
            start = time.perf_counter()
            step(text)
            elapsed = (time.perf_counter() - start) * 1000
            times[name].append(elapsed)
            without_encoding[name].append(elapsed - inside["ms"])
    embedder.embed_texts = embed_texts  # type: ignore[method-assign]
    encode50, legs50 = p(times["encode"], 50), p(times["legs sql"], 50)
    line("text encoding", times["encode"])
    line("raw SQL of the legs", times["legs sql"])
    labels = {
        "service": "product_search() service",
        "view": "storefront view (test client)",
        "api": "API POST /api/v1/search/ (test client)",
        "url": f"URL {url[:30]}",
    }
    for name in steps:
        own = times[f"{name} sql"]
        statements = len(captured[(name, texts[0])])
        line(f"  its {statements} SQL statements, replayed raw", own)
        line(labels[name], times[name], f"overhead p50 {p(times[name], 50) - encode50 - legs50:+.2f} ms over legs SQL, "
             f"{p(times[name], 50) - encode50 - p(own, 50):+.2f} ms over its own SQL")  # fmt: skip
        inner = [t - w for t, w in zip(times[name], without_encoding[name], strict=True)]
        print(f"    its own encoding p50 {p(inner, 50):.2f} ms: overhead p50 "
              f"{p(without_encoding[name], 50) - p(own, 50):+.2f} ms over its own encoding and SQL")  # fmt: skip
        baseline = times[f"{name} baseline"]
        paired = [t - b for t, b in zip(times[name], baseline, strict=True)]
        line("    encoding, then its SQL replayed", baseline,
             f"overhead p50 {p(times[name], 50) - p(baseline, 50):+.2f} ms; "
             f"paired (each query against its own baseline) p50 {p(paired, 50):+.2f} ms")  # fmt: skip


Statement = tuple[str, Any, bool]  # SQL, parameters, bound on the server (search/vector_store.py)


def statements_of(step: Callable[[str], Any], text: str) -> list[Statement]:
    """The SQL statements one call sends, with their parameters and how they are bound (Django's
    cursors bind values into the text; the vector reads bind them on the server, in binary)."""
    sent: list[Statement] = []

    def record(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        server = not isinstance(context["cursor"].cursor, psycopg.client_cursor.ClientCursorMixin)
        sent.append((sql, params, server))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        step(text)
    return sent


# --- fashion-derived crops ------------------------------------------------------------------
#
# Issue 15 asks for "a fashion-derived set of the same size: several stored crops or augmentations
# per product". Embedding a million augmented photos would take days on 2 cores, so each fashion
# photo goes through the offline preset's network once, and its crops are pooled from regions of
# that one feature map: a crop vector is the preset's own recipe (the mean of the CNN feature over
# the region, L2, and the foreground colour histogram of the same pixels, weighted and
# concatenated, L2) applied to a rectangle of whole cells of the 7 x 7 map (32 x 32 px each of
# the 224 px square). The whole map is exactly the catalog photo's stored vector (checked below).
# A crop pooled from the map is not the vector of the cropped photo embedded on its own (the
# network saw the whole photo around it), but every vector is the real model's, of a real photo.

GRID = 7  # EfficientNet-Lite0's last feature map of a 224 px square
CELL = 224 // GRID
CROP_MIN_CELLS = 3  # a crop covers at least 3 x 3 cells (96 x 96 px, 18% of the photo)


def crop_regions() -> np.ndarray:
    """Every rectangle of whole cells with sides of at least CROP_MIN_CELLS, the whole map first:
    (225, 4) rows of top, left, bottom, right (exclusive)."""
    spans = [(a, b) for a in range(GRID) for b in range(a + CROP_MIN_CELLS, GRID + 1)]
    regions = [(top, left, bottom, right) for top, bottom in spans for left, right in spans]
    whole = (0, 0, GRID, GRID)
    return np.array([whole, *(region for region in regions if region != whole)])


def fashion_records() -> list[Any]:
    return [row for row in read_fashion_csv(FASHION / "metadata.csv") if hasattr(row, "images") and row.images]


def fashion_features(records: list[Any], embedder: Any, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass per photo: the last feature maps (N, 1280, 7, 7) and each cell's
    foreground colour histogram counts (N, 7, 7, 128), cached in ``cache`` under a key of the
    model id and the photos (a second run reads them back)."""
    key = hashlib.sha256("|".join([embedder.model_id, *(r.images[0].location for r in records)]).encode()).hexdigest()
    maps_path, hists_path = cache / f"maps-{key[:16]}.npy", cache / f"hists-{key[:16]}.npy"
    if maps_path.exists() and hists_path.exists():
        print(f"  feature maps read from {maps_path}")
        return np.load(maps_path, mmap_mode="r"), np.load(hists_path)
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / f"maps-{key[:16]}.partial.npy"
    maps = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(len(records), CNN_DIM, GRID, GRID))
    hists = np.zeros((len(records), GRID, GRID, HIST_DIM), dtype=np.uint16)  # at most 1,024 pixels a cell
    cells = (np.arange(224)[:, None] // CELL) * GRID + np.arange(224)[None, :] // CELL
    start, batch = time.perf_counter(), 32
    for first in range(0, len(records), batch):
        images = []
        for record in records[first : first + batch]:
            with Image.open(FASHION / record.images[0].location) as image:
                images.append(image.convert("RGB"))
        maps[first : first + len(images)] = embedder.feature_maps(images)
        for offset, image in enumerate(images):
            bins = hsv_bins(image_square(image))
            foreground = bins >= 0
            counts = np.bincount(cells[foreground] * HIST_DIM + bins[foreground], minlength=GRID * GRID * HIST_DIM)
            hists[first + offset] = counts.reshape(GRID, GRID, HIST_DIM)
        if first // batch % 50 == 0:
            print(f"    {first + len(images):,} photos through the network, {time.perf_counter() - start:.0f} s  "
                  f"[load {os.getloadavg()[0]:.1f}]", flush=True)  # fmt: skip
    maps.flush()
    del maps
    partial.rename(maps_path)
    np.save(hists_path, hists)
    print(f"  feature maps of {len(records):,} photos in {time.perf_counter() - start:.0f} s, kept in {cache}")
    return np.load(maps_path, mmap_mode="r"), hists


def crop_vectors(
    feature_map: np.ndarray, cell_hists: np.ndarray, regions: np.ndarray, hist_weight: float
) -> np.ndarray:
    """The preset's recipe over each region of one photo's map: (len(regions), 1408), unit length."""
    integral = np.zeros((CNN_DIM, GRID + 1, GRID + 1), dtype=np.float64)
    integral[:, 1:, 1:] = feature_map.astype(np.float64).cumsum(1).cumsum(2)
    hist_integral = np.zeros((GRID + 1, GRID + 1, HIST_DIM), dtype=np.float64)
    hist_integral[1:, 1:] = cell_hists.astype(np.float64).cumsum(0).cumsum(1)
    top, left, bottom, right = regions.T
    sums = integral[:, bottom, right] - integral[:, top, right] - integral[:, bottom, left] + integral[:, top, left]
    cnn = l2_normalise((sums / ((bottom - top) * (right - left))).T)
    hist = (
        hist_integral[bottom, right]
        - hist_integral[top, right]
        - hist_integral[bottom, left]
        + hist_integral[top, left]
    )
    hist = l2_normalise(hist)  # all-background crops stay zero, as foreground_hsv_histogram gives
    return l2_normalise(np.concatenate([cnn, hist_weight * hist], axis=1))


class RunningTop:
    """The exact top K rows (scores and row numbers) per query under one row mask, kept while the
    vectors stream past in chunks (a million 1408-d vectors are never all in memory)."""

    def __init__(self, queries: int) -> None:
        self.scores = np.full((queries, K), -np.inf, dtype=np.float32)
        self.rows = np.full((queries, K), -1, dtype=np.int64)

    def add(self, scores: np.ndarray, first_row: int, mask: np.ndarray | None) -> None:
        """``scores``: (chunk rows, queries), higher is nearer."""
        rows = np.arange(first_row, first_row + len(scores))
        if mask is not None:
            scores, rows = scores[mask], rows[mask]
        if not len(rows):
            return
        take = min(K, len(rows))
        best = np.argpartition(-scores, take - 1, axis=0)[:take].T  # (queries, take)
        candidate_scores = np.concatenate([self.scores, np.take_along_axis(scores.T, best, axis=1)], axis=1)
        candidate_rows = np.concatenate([self.rows, rows[best]], axis=1)
        order = np.argsort(-candidate_scores, axis=1, kind="stable")[:, :K]
        self.scores = np.take_along_axis(candidate_scores, order, axis=1)
        self.rows = np.take_along_axis(candidate_rows, order, axis=1)


def crops_load(count: int, args: argparse.Namespace) -> tuple[EmbeddingModel, np.ndarray, dict[str, Any]]:
    """Fashion products minus the query products, ``count`` crop vectors in all; returns the
    model, the query vectors and the exact answers (image ids per query; "" unfiltered, "products":
    the 10 nearest products each once, and one entry per filter) with the filters."""
    records = fashion_records()
    step = max(1, len(records) // args.queries)
    held_out = set(range(0, len(records), step)[: args.queries])
    stored = [i for i in range(len(records)) if i not in held_out]
    embedder = embedder_get("offline")
    maps, hists = fashion_features(records, embedder, Path(args.feature_cache))
    # Queries: shopper-like copies (search/shopper_photos.py) of the held-out products' photos,
    # embedded as a shopper's photo is (embed_query_images: the preset's query pooling).
    photos = []
    for index in sorted(held_out):
        with Image.open(FASHION / records[index].images[0].location) as image:
            photos.append(shopper_photo(image.convert("RGB"), seed=index))
    queries = embedder.embed_query_images(photos)
    # The whole map is the catalog vector the preset stores for the photo: the recipe is the same.
    check = [stored[0], stored[len(stored) // 2]]
    with Image.open(FASHION / records[check[0]].images[0].location) as a, \
            Image.open(FASHION / records[check[1]].images[0].location) as b:  # fmt: skip
        catalog = embedder.embed_images([a.convert("RGB"), b.convert("RGB")])
    regions = crop_regions()
    derived = np.stack([crop_vectors(maps[i], hists[i], regions[:1], embedder.hist_weight)[0] for i in check])
    print(f"  whole-map crop against the preset's own catalog vector of the photo: max |difference| "
          f"{np.abs(derived - catalog).max():.2e}")  # fmt: skip
    per_product = np.full(len(stored), count // len(stored))
    per_product[: count % len(stored)] += 1
    if per_product.max() > len(regions):
        raise SystemExit(f"--fashion-crops {count:,}: at most {len(regions) * len(stored):,} crops of these photos")
    model = EmbeddingModel.objects.create(
        name="bench-fashion-crops", model_id=f"crops-of-{embedder.model_id}", image_dim=embedder.image_dim,
        text_dim=embedder.text_dim, shared_space=False, status="retired",
    )  # fmt: skip
    products, paths = [], {}
    for index in stored:
        row = records[index]
        if row.category_path not in paths:
            paths[row.category_path] = category_get_or_create_path(row.category_path)
        fields = dict(row.fields, in_stock=row.fields.get("stock", 0) > 0)
        products.append(Product(sku=row.sku, category=paths[row.category_path], **fields))
    Product.objects.bulk_create(products, batch_size=2000)
    with connection.cursor() as cursor:
        # One image row per crop (position = the crop's number), in product order.
        cursor.execute(
            "INSERT INTO catalog_productimage (product_id, file, position, alt_text, width, height, sha256, "
            "source_url, search_only, thumbnails, thumbnails_of, created_at, updated_at) "
            "SELECT c.product_id, 'crop.png', g, '', 96, 96, md5(c.product_id || '-' || g), '', g > 0, '{}', '', "
            "now(), now() FROM unnest(%s::bigint[], %s::int[]) AS c(product_id, crops), "
            "generate_series(0, c.crops - 1) g ORDER BY c.product_id, g",
            [[p.pk for p in products], per_product.tolist()],
        )
        cursor.execute(
            "SELECT id, product_id FROM catalog_productimage WHERE file = 'crop.png' ORDER BY product_id, position"
        )
        image_rows = cursor.fetchall()
    image_ids = [int(row[0]) for row in image_rows]
    row_products = [int(row[1]) for row in image_rows]
    filters = crops_filters(products, per_product)
    truth = {name: RunningTop(len(queries)) for name in ["", *filters]}
    product_best = np.full((len(products), len(queries)), -np.inf, dtype=np.float32)
    rng = np.random.default_rng(15)
    register_vector(connection.connection)
    start, first_row, chunk = time.perf_counter(), 0, 100
    now = django.utils.timezone.now()
    with connection.cursor() as cursor, cursor.cursor.copy(
        "COPY search_imageembedding (image_id, product_id, model_id, embedding, status, error, attempts, "
        "source_hash, claimed_by, updated_at) FROM STDIN WITH (FORMAT BINARY)"
    ) as copy:  # fmt: skip
        copy.set_types(
            ["int8", "int8", "int8", "vector", "varchar", "text", "int2", "varchar", "varchar", "timestamptz"]
        )
        for first in range(0, len(stored), chunk):
            parts = []
            for number in range(first, min(first + chunk, len(stored))):
                # The whole photo, then crops drawn without repeats from the other 224 regions.
                picks = np.concatenate([[0], 1 + rng.permutation(len(regions) - 1)[: per_product[number] - 1]])
                parts.append(crop_vectors(maps[stored[number]], hists[stored[number]], regions[picks],
                                          embedder.hist_weight))  # fmt: skip
            vectors = np.concatenate(parts).astype(np.float32)
            for offset, vector in enumerate(vectors):
                row = first_row + offset
                copy.write_row([image_ids[row], row_products[row], model.pk, vector, "ready", "", 1, "", "", now])
            scores = vectors @ queries.T
            for name, top in truth.items():
                top.add(scores, first_row, None if not name else filters[name][1][first_row : first_row + len(vectors)])
            bounds = np.cumsum([0, *(len(part) for part in parts[:-1])])
            product_best[first : first + len(parts)] = np.maximum.reduceat(scores, bounds, axis=0)
            first_row += len(vectors)
            if first // chunk % 20 == 0:
                print(f"    {first_row:,} crop vectors written, {time.perf_counter() - start:.0f} s  "
                      f"[load {os.getloadavg()[0]:.1f}]", flush=True)  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE catalog_product")
        cursor.execute("VACUUM ANALYZE catalog_productimage")
        cursor.execute("VACUUM ANALYZE search_imageembedding")
        cursor.execute("ALTER TABLE search_imageembedding SET (parallel_workers = 2)")
        cursor.execute("SELECT pg_table_size('search_imageembedding')")
        table_bytes = cursor.fetchone()[0]
    print(f"  {len(products):,} fashion products, {first_row:,} crop vectors "
          f"({per_product.min()}-{per_product.max()} per product) written and exact answers kept in "
          f"{time.perf_counter() - start:.0f} s; vector table {table_bytes / 2**20:,.0f} MiB "
          f"({table_bytes / first_row * 1e6 / 2**30:.2f} GiB per million rows)")  # fmt: skip
    answers: dict[str, Any] = {name: [[int(image_ids[r]) for r in rows if r >= 0] for rows in top.rows]
                               for name, top in truth.items()}  # fmt: skip
    nearest = np.argsort(-product_best, axis=0, kind="stable")[:K].T
    answers["products"] = [[products[i].pk for i in row] for row in nearest]
    answers["filters"] = filters
    return model, queries, answers


def crops_filters(products: list[Product], per_product: np.ndarray) -> dict[str, tuple[SearchFilters, np.ndarray]]:
    """Category subtrees and colours of the real fashion data keeping about 1%, 10% and 50% of the
    crop vectors, each with its mask over the rows (in product order)."""
    rows = per_product.sum()
    by_category: dict[int, np.ndarray] = {}
    for category in Category.objects.all():
        subtree = set(category_subtree_ids(category))
        by_category[category.pk] = np.array([p.category_id in subtree for p in products])
    colours = {str(p.attributes.get("colour", "")) for p in products} - {""}
    by_colour = {c: np.array([p.attributes.get("colour") == c for p in products]) for c in colours}
    categories = {c.pk: c for c in Category.objects.all()}
    filters: dict[str, tuple[SearchFilters, np.ndarray]] = {}
    for target in (0.01, 0.1, 0.5):
        pk = min(by_category, key=lambda c: abs(per_product[by_category[c]].sum() / rows - target))
        mask = np.repeat(by_category[pk], per_product)
        filters[f"category {categories[pk].name} ~{target:.0%}"] = (SearchFilters(category=categories[pk]), mask)
        colour = min(by_colour, key=lambda c: abs(per_product[by_colour[c]].sum() / rows - target))
        if abs(per_product[by_colour[colour]].sum() / rows - target) < target / 2:
            mask = np.repeat(by_colour[colour], per_product)
            filters[f"colour {colour} ~{target:.0%}"] = (SearchFilters(attributes={"colour": colour}), mask)
    return filters


def crops_section(args: argparse.Namespace) -> None:
    print(f"\n## Fashion-derived crops: {args.fashion_crops:,} vectors")
    model, queries, answers = crops_load(args.fashion_crops, args)
    BENCH.update(rows=args.fashion_crops, item_ids=True, forced_max_share=args.forced_max_share)
    exact_queries = queries[: args.exact_queries]
    exact_t, exact_r = timed_each(lambda q: neighbours_exact(model, "image", q, limit=K), exact_queries)
    line(f"exact scan, no filter ({len(exact_queries)} queries)", exact_t,
         f"agrees with numpy: recall@10 {recall(ids(exact_r), answers[''][: len(exact_queries)]):.3f}")  # fmt: skip
    ef_values = [int(v) for v in args.ef_search.split(",")] if args.ef_search else [search_setting("SEARCH_EF_SEARCH")]
    with override_settings(SNAPSHELF_INDEX_BUILD_MEMORY_MB=args.build_memory_mb):
        index_build(model, "halfvec", first=True)
    unfiltered_section(model, queries, answers[""], p(exact_t, 95), ef_values, truth_products=answers["products"])
    if args.filters:
        filtered_section(model, queries, {}, answers, answers["filters"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic vectors (default 100,000)")
    parser.add_argument("--fashion", type=int, default=1000, help="fashion products to embed (0: skip)")
    parser.add_argument("--queries", type=int, default=200, help="queries per line (default 200)")
    parser.add_argument("--url", default="", help="also time this URL; {q} is replaced by the query text")
    parser.add_argument(
        "--precisions",
        default="halfvec,bit,vector",
        help="synthetic index precisions to build and measure, in order; the first is "
        "measured with filters (default halfvec,bit,vector)",
    )
    parser.add_argument(
        "--exact-queries",
        type=int,
        default=50,
        help="queries timed through Postgres' exact scan (recall is always against numpy)",
    )
    parser.add_argument("--ef-search", default="", help="comma-separated ef_search values (default: the setting)")
    parser.add_argument(
        "--halfvec-rerank",
        type=int,
        default=100,
        help="also measure halfvec re-ranked from this many candidates (0: skip)",
    )
    parser.add_argument("--no-filters", dest="filters", action="store_false", help="skip the filter lines")
    parser.add_argument(
        "--fashion-crops",
        type=int,
        default=0,
        help="also measure this many crop vectors derived from the fashion photos (offline preset, "
        "1408-d; one forward pass per photo, crops pooled from its feature map; 0: skip)",
    )
    parser.add_argument(
        "--feature-cache",
        default=str(Path(tempfile.gettempdir()) / "snapshelf-benchmarks"),
        help="where the fashion photos' feature maps are kept between runs (about 2.5 GB)",
    )
    parser.add_argument(
        "--transport-lines",
        action="store_true",
        help="also time plain psycopg unprepared and with the vector as text (as the project sent it before)",
    )
    parser.add_argument(
        "--forced-max-share",
        type=float,
        default=0.15,
        help="filters keeping at most this share also time the exact and the HNSW path on their own",
    )
    parser.add_argument(
        "--build-memory-mb",
        type=int,
        default=2048,
        help="maintenance_work_mem for the HNSW builds (SNAPSHELF_INDEX_BUILD_MEMORY_MB)",
    )
    args = parser.parse_args()  # fmt: skip
    call_command("migrate", verbosity=0)
    print(f"Postgres {connection.pg_version}, {os.cpu_count()} CPUs, {args.queries} queries, top-{K}, cosine, "
          f"ef_search {search_setting('SEARCH_EF_SEARCH')}, load average {os.getloadavg()}")  # fmt: skip
    rng = np.random.default_rng(7)
    if args.fashion and FASHION.is_dir():
        print("\n## Fashion set")
        model = fashion_load(args.fashion)
        vector_section(f"Fashion photos ({args.fashion:,} offline vectors)", model,
                       fashion_queries(model, args.queries), fashion_filters(args.fashion))  # fmt: skip
        # The overhead is measured against the text model's own time, so every query runs it: with
        # the text vector cache on, the 5 repeated texts would skip it after their first round.
        with override_settings(SNAPSHELF_SEARCH_TEXT_VECTOR_TTL_SECONDS=0):
            request_section(args.queries, args.url)
    elif args.fashion:
        print(f"\n(fashion skipped: {FASHION} is absent)", file=sys.stderr)
    if args.rows:
        synthetic_section(args, rng)
    if args.fashion_crops and FASHION.is_dir():
        crops_section(args)
    elif args.fashion_crops:
        print(f"\n(fashion crops skipped: {FASHION} is absent)", file=sys.stderr)


if __name__ == "__main__":
    main()
