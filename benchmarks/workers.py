"""Indexing throughput with 1, 2 and 4 Celery worker processes sharing one queue.

    nice -n 10 .venv/bin/python -m benchmarks.workers [--images 384] [--workers 1 2 4] [--threads 0 1]

Real ``celery worker`` processes (solo pool: one process each, as docs/operations.md runs them)
on a throwaway embedded Postgres + Redis (test settings), embedding with the offline preset. For
each torch thread setting and worker count, in one run: start the workers and wait until each
listens, warm them up (a few batches, so the model is loaded), then mark every image pending
(fresh rows), send one message (the first task fans out to idle workers, search/tasks.py) and time
until every vector is stored. Start-up and warm-up are not timed. Prints images/s, the ratio to
one worker, how many tasks each worker ran, and the load average around each run (the machine may
be shared: compare the ratios, taken side by side in one run, rather than absolute figures).

``--threads 0`` is the default deployment (every worker uses every core); ``1`` gives each worker
one torch thread, as one would size workers to cores. Images: the fashion photos from
../shared/datasets when present (real JPEGs), else the demo drawings as JPEG.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.core.cache import cache  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from benchmarks.embedding import catalog_create, jpeg_sources  # noqa: E402

GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"


def images_embed(model, *, count: int | None, timeout: float = 1800.0) -> float:  # type: ignore[no-untyped-def]
    """Mark ``count`` images (all: None) pending as fresh rows, tell the workers, and return the
    seconds until every vector is stored."""
    from catalog.models import ProductImage
    from search.models import ImageEmbedding
    from search.services.index_queue import image_embeddings_mark_pending
    from search.tasks import ENQUEUED_KEY, embeddings_process_enqueue

    ImageEmbedding.objects.all().delete()
    cache.delete(ENQUEUED_KEY)
    images = list(ProductImage.objects.order_by("id").only("id", "product_id", "sha256")[:count])
    started = time.perf_counter()
    image_embeddings_mark_pending(images, [model])
    embeddings_process_enqueue()
    while True:
        left = ImageEmbedding.objects.exclude(status__in=["ready", "failed"]).count()
        if not left:
            break
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{left} images still not embedded after {timeout:.0f} s")
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    failed = ImageEmbedding.objects.filter(status="failed").count()
    if failed:
        raise RuntimeError(f"{failed} images failed: {ImageEmbedding.objects.filter(status='failed')[0].error}")
    return elapsed


def workers_run(model, folder: Path, *, workers: int, threads: int, images: int, batch: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    from tests.celery_workers import celery_workers, wait_until

    env = {
        "GLIBC_TUNABLES": GLIBC_TUNABLES,
        "SNAPSHELF_TORCH_THREADS": str(threads),
        "SNAPSHELF_INDEX_BATCH_SIZE": str(batch),
        "SNAPSHELF_SEARCH_MODEL": model.name,
    }
    run_folder = folder / f"w{workers}-t{threads}"
    run_folder.mkdir()
    starter = celery_workers(run_folder, env)
    start = next(starter)
    try:
        names = [f"bench{n}" for n in range(workers)]
        for name in names:
            start(name)
        for name in names:
            log = run_folder / f"{name}.log"
            wait_until(lambda log=log: "ready." in log.read_text(), 300, f"{name} to start", log.read_text)
        images_embed(model, count=workers * batch * 2)  # warm-up: loads the model in the workers
        load_before = os.getloadavg()
        seconds = images_embed(model, count=None)
        load_after = os.getloadavg()
    finally:
        for _ in starter:  # stops the workers
            pass
    tasks = [_tasks_run(run_folder / f"{name}.log") for name in names]
    return {"workers": workers, "threads": threads, "seconds": seconds, "rate": images / seconds,
            "tasks": tasks, "load": (load_before, load_after)}  # fmt: skip


def _tasks_run(log: Path) -> int:
    """Embedding tasks a worker ran (warm-up included), from its log."""
    return sum(1 for line in log.read_text().splitlines() if "embeddings_process[" in line and "succeeded" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=384)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1], help="torch threads per worker (0: all)")
    parser.add_argument("--batch", type=int, default=16, help="SNAPSHELF_INDEX_BATCH_SIZE")
    args = parser.parse_args()
    setup_test_environment()
    from django.db import connection

    from catalog.thumbnails import thumbnails_make_missing
    from search.models import EmbeddingModel
    from search.services.model_switch import embedding_model_register

    test_db = connection.creation.create_test_db(verbosity=0)
    rows = []
    try:
        catalog_create(jpeg_sources(args.images))
        # Thumbnails first: the first embedding of an image also makes them, which would slow
        # whichever run came first.
        while thumbnails_make_missing(limit=64):
            pass
        model = embedding_model_register("offline")  # loads it once here, to learn its id
        EmbeddingModel.objects.filter(pk=model.pk).update(status=EmbeddingModel.Status.ACTIVE)
        model.refresh_from_db()
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
            for threads in args.threads:
                for workers in args.workers:
                    row = workers_run(model, Path(folder), workers=workers, threads=threads,
                                      images=args.images, batch=args.batch)  # fmt: skip
                    rows.append(row)
                    print(f"threads {threads}, {workers} worker(s): {row['rate']:.1f} img/s "
                          f"(tasks per worker {row['tasks']}, load {row['load'][0][0]:.2f}->{row['load'][1][0]:.2f})",
                          flush=True)  # fmt: skip
    finally:
        connection.creation.destroy_test_db(test_db, verbosity=0)
    print()
    print(f"{args.images} images, offline preset, batch {args.batch}, {os.cpu_count()} cores, "
          f"GLIBC_TUNABLES set in the workers")  # fmt: skip
    print("| torch threads per worker | workers | seconds | images/s | vs 1 worker | tasks per worker "
          "| load avg (1 min) before -> after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        one = next(r for r in rows if r["threads"] == row["threads"] and r["workers"] == min(args.workers))
        threads = row["threads"] or "all"
        load = f"{row['load'][0][0]:.2f} -> {row['load'][1][0]:.2f}"
        print(f"| {threads} | {row['workers']} | {row['seconds']:.1f} | {row['rate']:.1f} | "
              f"{row['rate'] / one['rate']:.2f} | {row['tasks']} | {load} |")  # fmt: skip


if __name__ == "__main__":
    main()
