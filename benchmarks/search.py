"""Search latency and recall, measured side by side in one run, on throwaway embedded servers.

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295 \\
        python -m benchmarks.search [--rows 100000] [--fashion 1000] [--queries 200] [--url URL]

1. Synthetic: ``--rows`` clustered unit vectors (512-d) written straight into the index tables
   (products and images made with SQL, vectors by binary COPY), HNSW built with the project's
   settings. p50/p95 of the HNSW path and of an exact scan, recall@10 against exact; then
   price filters keeping 1%, 10% and 50% of the rows through the service's strategy
   (search/services/vector_legs.py) against exact scans of the same filter; then the index
   rebuilt with the other precision (halfvec / vector) and the unfiltered lines again.
2. Fashion: the first ``--fashion`` products of ../shared/datasets/fashion imported and embedded
   with the offline preset; the same photo measures with a category filter keeping ~10%.
3. Request overhead on the fashion catalog: the search service, a whole storefront search and a
   whole REST API search (Django test client: middleware, form or serializers, service, template
   or JSON) and, with ``--url``, any URL, against text encoding plus raw SQL: the legs' SQL alone,
   every statement the request itself sends replayed on a bare cursor, and (the baseline closest
   to the request) the text encoded and then those statements replayed at once, timed as one.

Uses config.settings.test: its own Postgres and Redis in a temporary folder, never .data/.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# WhiteNoise warns once per request that collectstatic has not run; irrelevant here.
warnings.filterwarnings("ignore", message="No directory at")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

import django  # noqa: E402

django.setup()
# WhiteNoise warns on every request that collectstatic has not run; irrelevant here.
warnings.filterwarnings("ignore", message="No directory at")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402

from catalog.importing.readers import read_fashion_csv  # noqa: E402
from catalog.importing.runner import CatalogImporter  # noqa: E402
from catalog.models import Category, Product  # noqa: E402
from catalog.selectors import category_subtree_ids  # noqa: E402
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
from search.services.vector_legs import neighbours  # noqa: E402
from search.vector_store import (  # noqa: E402
    hnsw_indexes_create,
    hnsw_indexes_rebuild,
    neighbours_exact,
    neighbours_hnsw,
)

FASHION = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fashion"
DIM = 512
K = 10


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def recall(found: list[list[int]], truth: list[list[int]]) -> float:
    scores = [len(set(f[:K]) & set(t[:K])) / max(1, min(K, len(t))) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(scores))


def line(label: str, times: list[float], extra: str = "") -> None:
    print(f"  {label:<38} p50 {p(times, 50):8.2f} ms   p95 {p(times, 95):8.2f} ms   {extra}")


# --- synthetic vectors ----------------------------------------------------------------------


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    vectors = centres[picks] + rng.normal(0, 0.6 / np.sqrt(DIM) * 4, (n, DIM)).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def synthetic_load(rows: int, rng: np.random.Generator, centres: np.ndarray) -> EmbeddingModel:
    model = EmbeddingModel.objects.create(
        name="bench-synthetic", model_id=f"bench-synthetic-{DIM}", image_dim=DIM, text_dim=DIM,
        shared_space=False, status="retired",
    )  # fmt: skip
    with connection.cursor() as cursor:
        # Prices 0.00-99.00 in steps of 1: "price < x" keeps x% of the rows.
        cursor.execute(
            "INSERT INTO catalog_product (sku, title, description, brand, price, currency, stock, in_stock, "
            "attributes, url, is_active, created_at, updated_at) SELECT 'SYN-' || i, 'Synthetic ' || i, '', '', "
            "(i %% 100), 'EUR', 1, true, '{}', '', true, now(), now() FROM generate_series(1, %s) i",
            [rows],
        )
        cursor.execute(
            "INSERT INTO catalog_productimage (product_id, file, position, alt_text, width, height, sha256, "
            "source_url, created_at, updated_at) SELECT id, 'synthetic.png', 0, '', 1, 1, md5(sku), '', now(), now() "
            "FROM catalog_product WHERE sku LIKE 'SYN-%%' ORDER BY id"
        )
        cursor.execute("SELECT id, product_id FROM catalog_productimage WHERE file = 'synthetic.png' ORDER BY id")
        pairs = cursor.fetchall()
    register_vector(connection.connection)
    vectors = clustered(rng, len(pairs), centres)
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
        for (image_id, product_id), vector in zip(pairs, vectors, strict=True):
            copy.write_row([image_id, product_id, model.pk, vector, "ready", "", 1, "", "", now])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
        cursor.execute("ANALYZE search_imageembedding")
        # Let CREATE INDEX use both cores (pgvector builds HNSW in parallel).
        cursor.execute("ALTER TABLE search_imageembedding SET (parallel_workers = 2)")
    start = time.perf_counter()
    hnsw_indexes_create(model)
    print(f"  HNSW build over {rows:,} x {DIM}: {time.perf_counter() - start:.1f} s")
    return model


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
    return [[n.product_id for n in result] for result in results]


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
    raw = connection.connection.cursor()

    def replay(statements: list[str]) -> None:
        for sql in statements:
            raw.execute(sql)
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


def statements_of(step: Callable[[str], Any], text: str) -> list[str]:
    """The SQL statements one call sends, as sent (Django's client-side cursor binds the values)."""
    with CaptureQueriesContext(connection) as context:
        step(text)
    statements = []
    for query in context.captured_queries:
        # A queryset's .iterator() (a form's ModelChoiceField) reads through a named server-side
        # cursor: replay the query it declares.
        declared = re.match(r"DECLARE \S+ NO SCROLL CURSOR WITH(?:OUT)? HOLD FOR (.*)$", query["sql"], re.S)
        statements.append(declared.group(1) if declared else query["sql"])
    return statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic vectors (default 100,000)")
    parser.add_argument("--fashion", type=int, default=1000, help="fashion products to embed (0: skip)")
    parser.add_argument("--queries", type=int, default=200, help="queries per line (default 200)")
    parser.add_argument("--url", default="", help="also time this URL; {q} is replaced by the query text")
    parser.add_argument(
        "--no-compare-precision", dest="compare_precision", action="store_false",
        help="skip rebuilding the synthetic index with the other precision (halfvec / vector) to compare",
    )  # fmt: skip
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"Postgres {connection.pg_version}, {os.cpu_count()} CPUs, {args.queries} queries, top-{K}, cosine")
    rng = np.random.default_rng(7)
    if args.fashion and FASHION.is_dir():
        print("\n## Fashion set")
        model = fashion_load(args.fashion)
        vector_section(f"Fashion photos ({args.fashion:,} offline vectors)", model,
                       fashion_queries(model, args.queries), fashion_filters(args.fashion))  # fmt: skip
        request_section(args.queries, args.url)
    elif args.fashion:
        print(f"\n(fashion skipped: {FASHION} is absent)", file=sys.stderr)
    if args.rows:
        print(f"\n## Synthetic: {args.rows:,} vectors")
        centres = rng.normal(size=(100, DIM)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        model = synthetic_load(args.rows, rng, centres)
        filters = {f"{share}%": SearchFilters(price_max=share - 1) for share in (1, 10, 50)}
        queries = clustered(rng, args.queries, centres)
        vector_section(f"Synthetic {args.rows:,} x {DIM}", model, queries, filters)
        if args.compare_precision:
            precision_compare(model, queries)


def precision_compare(model: EmbeddingModel, queries: np.ndarray) -> None:
    """The same queries through an index of the other precision, exact scans again alongside."""
    halfvec = model.index_precision != EmbeddingModel.IndexPrecision.HALFVEC
    with override_settings(SNAPSHELF_HALFVEC_INDEX=halfvec):
        start = time.perf_counter()
        hnsw_indexes_rebuild(model)
        print(f"\n## The other index precision ({model.index_precision}, built in {time.perf_counter() - start:.1f} s)")
    vector_section(f"Synthetic, {model.index_precision} index", model, queries, {})


if __name__ == "__main__":
    main()
