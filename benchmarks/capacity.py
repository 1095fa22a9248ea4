"""What one core does: word and photo searches per second through the search service, one torch
thread, one query at a time (the per-core figures of docs/scaling.md).

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295 \\
        nice -n 10 .venv/bin/python -m benchmarks.capacity [--queries 200]

On throwaway embedded Postgres + Redis (test settings): the demo catalog (64 products) indexed by
the offline preset; torch limited to one thread. Each query is timed on its own, in turn:

- words: ``product_search`` for a product's title (text encoding, keyword, SKU and vector legs,
  fusion, products for display);
- photo, embed: ``query_photo_embed`` (what the storefront's POST does: decode at the model's
  size, embed, keep the vector under a token);
- photo, search: ``product_search`` on that token (what the GET does);
- and the parts: the text encoding alone and the vector leg's SQL alone, so that the cost at other
  catalog sizes can be composed from docs/performance.md's SQL figures.

Queries per second per core = 1000 / mean milliseconds. The machine may be shared: the load
average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ["SNAPSHELF_TORCH_THREADS"] = "1"  # per core: the embedders set their threads from it

import django

django.setup()

from django.test.utils import setup_test_environment  # noqa: E402


def timed(function: Callable[[Any], Any], inputs: Sequence[Any]) -> list[float]:
    for item in inputs[:5]:  # warm: caches, the model's first calls
        function(item)
    times = []
    for item in inputs:
        started = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(label: str, times: list[float]) -> tuple[str, float]:
    mean = statistics.fmean(times)
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(f"  {label:34s} mean {mean:7.2f} ms  p50 {statistics.median(times):7.2f} ms  p95 {p95:7.2f} ms  "
          f"-> {1000 / mean:6.1f} /s per core", flush=True)  # fmt: skip
    return label, mean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    setup_test_environment()
    from django.db import connection

    test_db = connection.creation.create_test_db(verbosity=0)
    try:
        run(args.queries)
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)


def run(count: int) -> None:
    from catalog.demo import demo_products
    from search.embedders.registry import embedder_get
    from search.services.product_search import (
        NO_FILTERS,
        SearchQuery,
        product_filter_build,
        product_search,
        query_photo_embed,
    )
    from search.services.vector_legs import products_nearest
    from tests.search.search_fixtures import demo_index_build

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    model = demo_index_build("offline", calibrate=False)
    embedder = embedder_get(model.name)
    products = demo_products()
    titles = [products[n % len(products)].title for n in range(count)]
    photos = [products[n % len(products)].image_png for n in range(count)]
    owner = "benchmark"
    tokens = [query_photo_embed(data, owner=owner) for data in photos[:10]]
    no_filter = product_filter_build(NO_FILTERS)
    text_vectors = embedder.embed_texts(titles[:10])
    print(f"demo catalog: {len(products)} products, offline preset, torch threads {_threads()}, {count} queries each")
    rows = [
        report("words: product_search", timed(lambda t: product_search(SearchQuery(text=t, limit=24)), titles)),
        report("photo: embed and keep (POST)", timed(lambda d: query_photo_embed(d, owner=owner), photos)),
        report("photo: product_search on token (GET)", timed(
            lambda n: product_search(SearchQuery(image_token=tokens[n % 10], owner=owner, limit=24)), range(count))),
        report("text encoding alone", timed(lambda t: embedder.embed_texts([t]), titles)),
        report("text vector leg SQL alone", timed(lambda n: products_nearest(
            model, "product", text_vectors[n % 10], products=25, product_filter=no_filter), range(count))),
    ]  # fmt: skip
    means = dict(rows)
    photo = means["photo: embed and keep (POST)"] + means["photo: product_search on token (GET)"]
    print(f"  photo search, POST + GET            mean {photo:7.2f} ms  -> {1000 / photo:6.1f} /s per core")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main()
