"""Two costs a web request pays besides the search itself, against what they save, in one run:

- the text query vector cache (search/services/query_texts.py): a hit (one Redis GET) and the
  extra work of a miss (a GET and a SET around the model) against embedding the words;
- ``CONN_HEALTH_CHECKS``: Django's ``SELECT 1`` on a kept connection, once per request.

    python -m benchmarks.request_costs [--queries 300] [--threads 1]

Throwaway embedded Postgres and Redis on loopback (config.settings.test); the offline preset's
text model (all-MiniLM-L6-v2) with torch at ``--threads`` threads (a web process runs
``cores // WEB_CONCURRENCY``: 1 with 4 processes on 2 cores). Every query is distinct ("<colour>
<noun> <n>"), and each is timed through each path in turn (embedding alone, a miss, a hit), so
the paths share the machine's moments. Prints p50 and p95 in milliseconds, of the wall clock
and of this process's CPU time (the same work without the waits for a core of a busy machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402

from catalog.demo import COLOURS, KINDS  # noqa: E402
from search.embedders.offline import OfflineEmbedder  # noqa: E402
from search.models import EmbeddingModel  # noqa: E402
from search.services.query_texts import query_text_key, query_text_vector  # noqa: E402


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and this process's CPU milliseconds: on a busy machine the wall clock also
    counts waiting for a core (longest after a blocking call), the CPU time only the work."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def line(name: str, values: list[tuple[float, float]]) -> str:
    def p50_p95(numbers: list[float]) -> str:
        ordered = sorted(numbers)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return f"p50 {statistics.median(ordered):7.3f}  p95 {p95:7.3f}"

    return f"  {name:<40} wall ms {p50_p95([w for w, _ in values])}   CPU ms {p50_p95([c for _, c in values])}"


def text_cache(queries: int, threads: int) -> list[str]:
    embedder = OfflineEmbedder(threads=threads)
    model = EmbeddingModel(name="offline", model_id=embedder.model_id, text_dim=embedder.text_dim)
    texts = [f"{colour} {kind.noun.lower()} {n}" for n in range(queries) for colour in COLOURS for kind in KINDS]
    texts = texts[:queries]
    for text in texts[:20]:  # warm: first calls allocate
        embedder.embed_texts([text])
    cache.delete_many([query_text_key(model, text) for text in texts])
    embed, miss, hit, round_trips = [], [], [], []
    vector = embedder.embed_texts(["a"])[0].tobytes()
    for n, text in enumerate(texts):
        paths = [(embed, lambda text=text: embedder.embed_texts([text])),
                 (miss, lambda text=text: query_text_vector(model, embedder, text))]  # fmt: skip
        # Each goes first every other query, so neither always finds the CPU's caches warmer.
        for samples, call in paths if n % 2 else paths[::-1]:
            samples.append(timed(call))
        hit.append(timed(lambda text=text: query_text_vector(model, embedder, text)))
        key = f"{query_text_key(model, text)}:alone"
        round_trips.append(timed(lambda key=key: (cache.get(key), cache.set(key, vector, 60))))
        cache.delete(key)
    cache.delete_many([query_text_key(model, text) for text in texts])
    return [
        f"Text query vectors: {len(texts)} distinct queries, torch threads {threads}",
        line("embedding the words (no cache)", embed),
        line("miss: GET, embedding, SET", miss),
        line("  miss minus embedding (paired)", [(m[0] - e[0], m[1] - e[1]) for m, e in zip(miss, embed, strict=True)]),
        line("hit: GET", hit),
        line("a miss's GET and SET alone (no model)", round_trips),
    ]


def health_check(rounds: int) -> list[str]:
    connection.ensure_connection()
    check = [timed(connection.is_usable) for _ in range(rounds)]
    title = f"CONN_HEALTH_CHECKS: {rounds} checks on one kept connection"
    return [title, line("SELECT 1 (connection.is_usable)", check)]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print("\n".join([*text_cache(args.queries, args.threads), "", *health_check(10 * args.queries)]), flush=True)


if __name__ == "__main__":
    main()
