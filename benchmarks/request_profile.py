"""Where one storefront search spends its CPU: a words search and a photo search (the POST and
the results page it redirects to), in one process, through Django's test client.

    python -m benchmarks.request_profile [--dataset DIR | --demo] [--data-dir DIR] [--requests 200]
                                          [--profile words|photo] [--top 30]

The prepared catalog of benchmarks/load.py (``--data-dir``, default ``.data-bench``; prepare it
with one run of load.py first), its embedded Postgres and Redis, ``config.settings.production``
with the environment load.py gives gunicorn, torch at one thread (a web process of 4 on 2 cores).
The queries and photos are load.py's. Each kind runs ``--requests`` times after a warm-up (the
text vectors are then in the cache, as for repeated words under load); prints each request's CPU
time (p50, p95) and the share of it spent in each part of the request, from ``cProfile``:
``--profile KIND`` also prints the functions that take most of that kind's time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import load

# Parts of a request, as (label, function-name match): a profile entry's cumulative time counts
# towards the first label whose match is in "file:function". Nested parts are listed first.
PARTS = [
    ("text model (misses)", "embedders/offline.py:embed_texts"),
    ("image model (photo POST)", "embedders/offline.py:embed_query_images"),
    ("photo decode", "image_intake.py:query_photo_decode"),
    ("keyword leg", "services/keywords.py:keyword_search"),
    ("sku leg", "services/keywords.py:sku_matches"),
    ("vector legs", "services/product_search.py:_vector_legs"),
    ("products for display", "services/product_search.py:_hits"),
    ("search service (all)", "services/product_search.py:product_search"),
    ("form", "search/forms.py:__init__"),
    ("search event (insights row)", "search/events.py:search_announce"),
    ("template render", "django/shortcuts.py:render"),
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cpu_ms(call: Callable[[], object]) -> float:
    started = time.process_time()
    call()
    return (time.process_time() - started) * 1000


def parts_of(stats: pstats.Stats, requests: int) -> list[str]:
    """Each PARTS label's cumulative CPU per request (ms), from the profile's entries."""
    found: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{filename}:{function}"
        for label, match in PARTS:
            if name.endswith(match) or f"/{match}" in name:
                found[label] = max(found.get(label, 0.0), cumulative)
                break
    total = max((cum for (_, _, _, cum, _) in stats.stats.values()), default=0.0)  # type: ignore[attr-defined]
    lines = [f"    {'whole request (under the profiler)':<36} {1000 * total / requests:7.2f} ms"]
    lines += [f"    {label:<36} {1000 * found[label] / requests:7.2f} ms" for label, _ in PARTS if label in found]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=load.ROOT / ".data-bench")
    parser.add_argument("--dataset", type=Path, default=load.FASHION)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", choices=["words", "photo"], default="")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve() / ("demo" if args.demo else "fashion")
    if not (data_dir / "prepared.json").exists():
        raise SystemExit(f"no prepared catalog in {data_dir}: run benchmarks.load once with the same --data-dir")
    with ExitStack() as stack:
        services = load.services_start(data_dir, stack)
        env = load.server_env(data_dir, services, label="profile", workers=4, redis_db=2)
        load.manage(load.ROOT, env, "collectstatic", "--noinput", "--verbosity", "0")
        workload = load.workload_read(data_dir, env, argparse.Namespace(seed=args.seed, photo_share=0.3, api_share=0))
        os.environ.update(env)
        run(args, workload)


def run(args: argparse.Namespace, workload: load.Workload) -> None:
    import django

    django.setup()
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    rng = random.Random(args.seed)
    form = client.get("/")
    token = load._csrf_token(form.content.decode())

    def words() -> None:
        response = client.get("/search/", {"q": rng.choice(workload.queries)})
        assert response.status_code == 200 and b'class="card"' in response.content, response.status_code

    def photo() -> None:
        data = {"csrfmiddlewaretoken": token, "q": "", "photo": _upload(rng.choice(workload.photos))}
        posted = client.post("/search/", data)
        assert posted.status_code == 303, posted.status_code
        page = client.get(posted["Location"])
        assert page.status_code == 200 and b'class="card"' in page.content, page.status_code

    kinds = {"words": words, "photo": photo}
    for call in kinds.values():  # warm-up: models loaded, every query's text vector in the cache
        for _ in range(min(len(workload.queries), 800) if call is words else 20):
            call()
    print(f"{args.requests} requests per kind, torch threads {_torch_threads()}, {len(workload.queries)} queries")
    for kind, call in kinds.items():
        samples = [cpu_ms(call) for _ in range(args.requests)]
        p50, p95 = statistics.median(samples), percentile(samples, 0.95)
        print(f"  {kind:<6} CPU ms per operation  p50 {p50:6.2f}  p95 {p95:6.2f}")
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(args.requests):
            call()
        profiler.disable()
        stats = pstats.Stats(profiler)
        print("\n".join(parts_of(stats, args.requests)))
        if args.profile == kind:
            stats.sort_stats("cumulative").print_stats(args.top)


def _upload(data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("photo.jpg", data, content_type="image/jpeg")


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


if __name__ == "__main__":
    main()
