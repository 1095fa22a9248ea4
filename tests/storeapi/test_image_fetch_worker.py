"""An image URL sent to the API is fetched by a real Celery worker process."""

from __future__ import annotations

import pytest

from catalog.models import ProductImage
from storeapi.models import ImageFetch
from tests.catalog.factories import ProductFactory
from tests.celery_workers import celery_workers, wait_until
from tests.storeapi.conftest import client_with

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def start_worker(tmp_path):
    # The image server is on loopback, which the SSRF guard refuses unless this setting allows it.
    yield from celery_workers(tmp_path, {"SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE": "true", "SNAPSHELF_IMAGE_URL_PORTS": ""})


def test_image_url_is_fetched_by_a_worker(write_key, image_server, start_worker):
    product = ProductFactory()
    response = client_with(write_key).post(
        f"/api/v1/products/{product.pk}/images/", {"image_url": image_server.url("green.jpg"), "alt_text": "Green"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 202
    assert not ProductImage.objects.filter(product=product).exists()
    start_worker("fetcher")
    wait_until(
        lambda: ImageFetch.objects.get().status in (ImageFetch.Status.DONE, ImageFetch.Status.FAILED),
        120,
        "the worker to fetch the image",
        lambda: list(ImageFetch.objects.values("status", "error")),
    )
    fetch = ImageFetch.objects.get()
    assert fetch.status == ImageFetch.Status.DONE, fetch.error
    image = ProductImage.objects.get(product=product)
    assert image.alt_text == "Green" and image.source_url == image_server.url("green.jpg")
