"""Fault tests with the real Redis and real Celery worker processes."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from catalog.services import product_image_add, product_upsert
from search.models import ImageEmbedding
from search.services.model_switch import embedding_model_activate
from tests.celery_workers import celery_workers, wait_until
from tests.sample_images import image_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def image_rows() -> list[dict[str, object]]:
    return list(ImageEmbedding.objects.values("id", "status", "attempts", "error", "claimed_by", "claimed_at"))


@pytest.fixture
def start_worker(tmp_path, tiny_models_env):
    yield from celery_workers(tmp_path, tiny_models_env)


def statuses() -> list[str]:
    return list(ImageEmbedding.objects.order_by("id").values_list("status", flat=True))


def test_image_saved_while_redis_is_down_is_embedded_once_redis_is_back(tiny_models, start_worker):
    embedding_model_activate("tiny")
    redis = django_settings.EMBEDDED_REDIS
    redis.stop()
    try:
        product, _ = product_upsert(sku="DOWN-1", title="Saved while Redis was down")
        product_image_add(product=product, data=image_bytes())
    finally:
        redis.start()
    assert statuses() == ["pending"]
    start_worker("after-redis")
    wait_until(lambda: statuses() == ["ready"], 120, "the worker to embed the image", image_rows)


def test_worker_killed_mid_batch_leaves_work_that_another_worker_finishes(
    tiny_models, tiny_models_env, start_worker, settings
):
    embedding_model_activate("tiny")
    for n in range(3):
        product, _ = product_upsert(sku=f"KILL-{n}", title=f"Killed worker {n}")
        product_image_add(product=product, data=image_bytes((80 * n, 40, 200 - 60 * n)))
    slow_models = json.loads(tiny_models_env["SNAPSHELF_EMBEDDING_MODELS"])
    slow_models["tiny"] = {**slow_models["tiny"], "class": "tests.search.slow_embedder.SlowClipEmbedder",
                           "delay_seconds": 600}  # fmt: skip
    doomed = start_worker("doomed", SNAPSHELF_EMBEDDING_MODELS=json.dumps(slow_models))
    wait_until(
        lambda: ImageEmbedding.objects.filter(status="processing", claimed_by__endswith=f":{doomed.pid}").exists(),
        120,
        "the first worker to claim a batch",
        image_rows,
    )
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    claimed = list(ImageEmbedding.objects.filter(status="processing").values_list("id", flat=True))
    assert claimed
    # The rescuer's periodic sweep (beat) hands the dead worker's claims back once they time out.
    start_worker(
        "rescuer", beat=True, SNAPSHELF_INDEX_CLAIM_TIMEOUT_SECONDS="3", SNAPSHELF_INDEX_SWEEP_INTERVAL_SECONDS="1"
    )
    wait_until(lambda: statuses() == ["ready"] * 3, 120, "the second worker to finish the batch", image_rows)
    assert set(ImageEmbedding.objects.filter(id__in=claimed).values_list("attempts", flat=True)) == {2}


def test_a_row_that_kills_its_worker_fails_after_the_maximum_attempts_and_its_batch_is_embedded(
    tiny_models, tiny_models_env, start_worker, settings
):
    """A supervisor starts a worker again each time one dies, and beat's sweep (run here, by the
    test) hands timed-out claims back one row at a time: the good rows of the poisoned batch are
    embedded, and the row that kills every worker fails once it has been claimed
    INDEX_MAX_ATTEMPTS times."""
    from search.tasks import embeddings_sweep
    from tests.search.crashing_embedder import POISON

    settings.SNAPSHELF_INDEX_MAX_ATTEMPTS = 2
    settings.SNAPSHELF_INDEX_CLAIM_TIMEOUT_SECONDS = 2
    embedding_model_activate("tiny")
    colours = [(200, 40, 40), POISON, (40, 200, 40), (40, 40, 200)]
    for n, colour in enumerate(colours):
        product, _ = product_upsert(sku=f"POISON-{n}", title=f"Batch neighbour {n}")
        product_image_add(product=product, data=image_bytes(colour))
    poison_row = ImageEmbedding.objects.get(product__sku="POISON-1")
    crashing = json.loads(tiny_models_env["SNAPSHELF_EMBEDDING_MODELS"])
    crashing["tiny"] = {**crashing["tiny"], "class": "tests.search.crashing_embedder.CrashingClipEmbedder"}

    def settled() -> bool:
        return not ImageEmbedding.objects.filter(status__in=["pending", "processing"]).exists()

    starts = 0
    while not settled():
        assert starts < 5, f"still not settled after {starts} worker starts: {image_rows()}"
        worker = start_worker(f"supervised-{starts}", SNAPSHELF_EMBEDDING_MODELS=json.dumps(crashing))
        starts += 1
        wait_until(lambda worker=worker: worker.poll() is not None or settled(), 120, "a crash or the end", image_rows)
        if worker.poll() is not None:
            time.sleep(2.5)  # the dead worker's claim times out
            embeddings_sweep()  # beat's periodic sweep: release (or fail) the claims, enqueue the work
    poison_row.refresh_from_db()
    assert poison_row.status == "failed" and poison_row.attempts == 2
    assert "stopped while embedding it" in poison_row.error
    good = ImageEmbedding.objects.exclude(pk=poison_row.pk)
    assert set(good.values_list("status", flat=True)) == {"ready"} and set(good.values_list("error", flat=True)) == {""}
    assert starts == 3  # the batch, then the poison alone, then the sweep that fails it


def test_workers_share_the_queue_and_no_image_is_embedded_twice(tiny_models, tiny_models_env, start_worker, tmp_path):
    """Three worker processes on one queue and a single message (as after a bulk requeue): the
    first task tells another worker before it starts, so idle workers join in; each claims its own
    batches (SKIP LOCKED), and every image is embedded exactly once."""
    from search.tasks import ENQUEUED_KEY, embeddings_process_enqueue

    record = tmp_path / "embedded.txt"
    recording = json.loads(tiny_models_env["SNAPSHELF_EMBEDDING_MODELS"])
    recording["tiny"] = {**recording["tiny"], "class": "tests.search.recording_embedder.RecordingClipEmbedder",
                         "record_path": str(record), "delay_seconds": 0.4}  # fmt: skip
    embedding_model_activate("tiny")
    names = [f"share-{n}" for n in range(3)]
    workers = [
        start_worker(name, SNAPSHELF_EMBEDDING_MODELS=json.dumps(recording), SNAPSHELF_INDEX_BATCH_SIZE="2")
        for name in names
    ]
    for name in names:  # every worker listening (its start-up sweep found nothing to do)
        wait_until(lambda name=name: "ready." in (tmp_path / f"{name}.log").read_text(), 120, f"{name} to start")
    colours = [(10 * n, 250 - 10 * n, (37 * n) % 256) for n in range(24)]
    cache.set(ENQUEUED_KEY, 1, timeout=300)  # the saves' own messages are left out...
    for n, colour in enumerate(colours):
        product, _ = product_upsert(sku=f"SHARE-{n}", title=f"Shared queue {n}")
        product_image_add(product=product, data=image_bytes(colour))
    cache.delete(ENQUEUED_KEY)
    embeddings_process_enqueue()  # ...and one message tells the workers
    wait_until(lambda: statuses() == ["ready"] * len(colours), 240, "the workers to embed every image", image_rows)

    embedded = [line.split() for line in record.read_text().splitlines()]
    per_image = Counter(digest for _, digest in embedded)
    assert len(per_image) == len(colours) and set(per_image.values()) == {1}, per_image.most_common(3)
    per_worker = Counter(pid for pid, _ in embedded)
    assert set(per_worker) <= {str(worker.pid) for worker in workers}
    assert len(per_worker) >= 2, f"one worker did all the work: {per_worker}"
