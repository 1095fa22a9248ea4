"""The keyword leg's statements of this checkout against another revision's, on a prepared catalog:
the same hits (ids, ranks, tiers and corrected words) and Postgres' execution time of each.

    python -m benchmarks.keyword_statements --compare REV [--data-dir DIR] [--limits 25,1000]

The prepared catalog of benchmarks/load.py (``--data-dir``, default ``.data-bench``; prepare it
with one run of load.py first) and its queries: each "colour article type" query, and for the
first 300 of them the words reversed, with "men" before, with "for women" after, the last word
alone and the last word with a letter dropped (a typo). ``keyword_search`` of both revisions must
give identical results at each limit; then each load query's hits statement (``_hits_sql``) is
run under ``EXPLAIN (ANALYZE, TIMING OFF)`` by both, in turns, and the execution times printed.
Exits 1 if any result differs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import load

MODULE = "search/services/keywords.py"


def revision_module(rev: str) -> ModuleType:
    """``search.services.keywords`` as it is at ``rev``, imported beside this checkout's."""
    source = subprocess.run(["git", "show", f"{rev}:{MODULE}"], cwd=load.ROOT, capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="keywords-")) / "keywords_compared.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("keywords_compared", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["keywords_compared"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def query_variants(queries: list[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    variants = list(queries)
    for query in queries[:300]:
        words = query.split()
        variants += [" ".join(reversed(words)), f"men {query}", f"{query} for women", words[-1]]
        if len(words[-1]) > 4:
            cut = rng.randrange(1, len(words[-1]) - 1)
            variants.append(" ".join([*words[:-1], words[-1][:cut] + words[-1][cut + 1 :]]))
    return variants


def results(module: ModuleType, words: list[str], product_filter: Any, limit: int) -> tuple[Any, ...]:
    found = module.keyword_search(words, product_filter, limit=limit)
    return tuple(found.words), tuple((hit.product_id, hit.rank, hit.tier) for hit in found.hits)


def execution_ms(cursor: Any, statement: tuple[str, list[Any]]) -> float:
    cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) {statement[0]}", statement[1])
    last = cursor.fetchall()[-1][0]
    match = re.search(r"Execution Time: ([\d.]+)", last)
    return float(match.group(1)) if match else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--compare", metavar="REV", required=True)
    parser.add_argument("--data-dir", type=Path, default=load.ROOT / ".data-bench")
    parser.add_argument("--limits", default="25,1000")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve() / "fashion"
    if not (data_dir / "prepared.json").exists():
        raise SystemExit(f"no prepared catalog in {data_dir}: run benchmarks.load once with the same --data-dir")
    with ExitStack() as stack:
        services = load.services_start(data_dir, stack)
        env = load.server_env(data_dir, services, label="keywords", workers=4, redis_db=3)
        queries = load.workload_read(data_dir, env, argparse.Namespace(seed=1, photo_share=0, api_share=0)).queries
        os.environ.update(env)
        return compare(args, queries)


def compare(args: argparse.Namespace, queries: list[str]) -> int:
    import django

    django.setup()
    from django.db import connection

    from search.services import keywords
    from search.services.product_search import SearchFilters, product_filter_build

    other = revision_module(args.compare)
    everything = product_filter_build(SearchFilters())
    variants = query_variants(queries, args.seed)
    limits = [int(limit) for limit in args.limits.split(",")]
    differ = [
        (limit, text)
        for limit in limits
        for text in variants
        if results(keywords, keywords.query_words(text), everything, limit)
        != results(other, keywords.query_words(text), everything, limit)
    ]
    print(f"{len(variants)} queries x limits {args.limits}: {len(differ)} with different results")
    for limit, text in differ[:10]:
        print(f"  differs at limit {limit}: {text!r}")
    times: dict[str, list[float]] = {"this checkout": [], args.compare: []}
    with connection.cursor() as cursor:
        for number, text in enumerate(queries):
            words = keywords.query_words(text)
            pair = [("this checkout", keywords), (args.compare, other)]
            for name, module in pair if number % 2 else pair[::-1]:
                times[name].append(execution_ms(cursor, module._hits_sql(words, everything, limits[0])))
    print(f"hits statement, {len(queries)} load queries, limit {limits[0]} (Postgres execution time):")
    for name, values in times.items():
        ordered = sorted(values)
        p95 = ordered[round(0.95 * (len(ordered) - 1))]
        print(f"  {name:<14} p50 {statistics.median(ordered):6.2f} ms  p95 {p95:6.2f} ms  "
              f"mean {statistics.mean(ordered):6.2f} ms")  # fmt: skip
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
