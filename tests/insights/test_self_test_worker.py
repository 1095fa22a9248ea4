"""A self-test started from the admin runs in a real Celery worker process."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.services import category_get_or_create_path, product_image_add, product_upsert
from insights.models import SelfTestRun
from search.models import EmbeddingModel
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import embedding_model_activate
from tests.celery_workers import celery_workers, wait_until
from tests.sample_images import image_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def start_worker(tmp_path, tiny_models_env):
    yield from celery_workers(tmp_path, tiny_models_env)


def test_admin_start_runs_in_a_worker(tiny_models, start_worker, admin_client):
    embedding_model_activate("tiny")
    for n, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]):
        category = category_get_or_create_path("Home > Lamps" if n % 2 else "Kitchen > Mugs")
        product, _ = product_upsert(sku=f"W-{n}", title=f"Worker product {n}", category=category)
        product_image_add(product=product, data=image_bytes(colour))
    embeddings_process_available()
    model = EmbeddingModel.objects.get(status="active")
    start_worker("self-test")
    start = reverse("admin:insights_selftestrun_start")
    response = admin_client.post(start, {"model": model.pk, "sample": 4, "seed": 0})
    assert response.status_code == 302
    run = SelfTestRun.objects.get()

    def finished() -> bool:
        run.refresh_from_db()
        return run.status in ("done", "failed")

    wait_until(finished, 120, "the worker to run the self-test", lambda: SelfTestRun.objects.values().first())
    assert run.status == "done" and run.queries == 4, run.error
    assert {row["category"] for row in run.per_category} == {"Home", "Kitchen"}
