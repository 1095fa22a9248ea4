"""Clicked photo searches as tuning pairs: kept only when the merchant opts in, as the query's
vector (never the photo) with the opened product, deleted with their search, and learned from by
``search_model tune``."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from catalog.services import product_image_add, product_upsert
from insights.models import ClickedPhoto, ResultOpen, SearchEvent
from insights.services.recording import retention_enforce
from search.models import ModelAdapter
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import embedding_model_activate
from search.services.tuning import model_tune, training_photos
from search.shopper_photos import shopper_photo
from search.tuning import TuneOptions
from tests.search.search_fixtures import noise, png

pytestmark = pytest.mark.django_db


def photo_search_and_open(client, photo_png: bytes, sku: str):
    """A storefront photo search, and the shopper opens ``sku`` among its results."""
    upload = SimpleUploadedFile("shelf.png", photo_png, content_type="image/png")
    redirect = client.post(reverse("search:results"), {"photo": upload})
    assert redirect.status_code == 303
    page = client.get(redirect["Location"])
    event = SearchEvent.objects.latest("pk")
    skus = [hit.product.sku for hit in page.context["result"].hits]
    rank = skus.index(sku) + 1
    product = page.context["result"].hits[rank - 1].product
    client.get(reverse("search:result-open", args=[event.pk, rank, product.pk]))
    return event, product


def catalog_of_one_photo_each(count: int = 4) -> list:
    products = []
    for n in range(count):
        product, _ = product_upsert(sku=f"CLICK-{n}", title=f"Clicked item {n}")
        product_image_add(product=product, data=png(noise(500 + n, 96)))
        products.append(product)
    embeddings_process_available()
    return products


def test_without_the_opt_in_nothing_of_the_photo_is_kept(client, tiny_models):
    embedding_model_activate("tiny")
    catalog_of_one_photo_each(2)
    event, _ = photo_search_and_open(client, png(shopper_photo(noise(500, 96), seed=1)), "CLICK-0")
    event.refresh_from_db()
    assert event.kind == "photo" and event.photo_token == ""
    assert ResultOpen.objects.count() == 1 and not ClickedPhoto.objects.exists()


def test_opted_in_clicks_become_pairs_the_model_is_tuned_on(client, tiny_models, settings):
    settings.SNAPSHELF_INSIGHTS_TUNE_FROM_CLICKS = True
    base = embedding_model_activate("tiny")
    catalog_of_one_photo_each(4)
    # No product has two photos: nothing to learn from yet.
    assert training_photos(base)[0].vectors.shape[0] == 0
    for n in range(4):
        photo_search_and_open(client, png(shopper_photo(noise(500 + n, 96), seed=n)), f"CLICK-{n}")
    clicked = list(ClickedPhoto.objects.order_by("pk"))
    assert len(clicked) == 4 and all(c.model_id == base.pk for c in clicked)
    # The query's vector as the search app kept it, not the photo.
    assert all(np.frombuffer(bytes(c.vector), dtype=np.float32).shape == (base.image_dim,) for c in clicked)
    photos, from_clicks = training_photos(base)
    assert from_clicks == 4 and int(photos.shop.sum()) == 4
    # Each opened product's catalog photo joins its clicked photo: four pairs.
    assert sorted(photos.products.tolist()) == sorted([c.product_id for c in clicked] * 2)
    adapter = model_tune(base=base, options=TuneOptions(steps=20, rank=4))
    assert adapter.training["clicked_photos"] == 4 and ModelAdapter.objects.count() == 1
    # Retention deletes them with the searches.
    retention_enforce(now=timezone.now() + dt.timedelta(days=settings.SNAPSHELF_INSIGHTS_RETENTION_DAYS + 1))
    assert not ClickedPhoto.objects.exists()
