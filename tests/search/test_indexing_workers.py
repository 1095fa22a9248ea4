"""Fault tests with the real Redis and real Celery worker processes."""

from __future__ import annotations

import json
import signal

import pytest
from django.conf import settings as django_settings

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
