"""Calibrating "no close match" on small catalogs of tiny real models: too few photos, when a
calibration is due, a model switch, search-only shop photos, the admin; and a photo search that
is never an empty page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Product, ProductImage
from catalog.services import product_image_add, product_upsert
from search.models import EmbeddingModel, NoMatchCalibration
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import (
    embedding_model_activate,
    embedding_model_activation_finish_if_built,
    embedding_model_active,
)
from search.services.no_match import (
    COPIES_PER_PHOTO_MAX,
    no_match_calibrate,
    no_match_calibration_due,
    no_match_calibration_refresh,
    no_match_distance,
)
from search.services.product_search import SearchQuery, product_search
from search.shopper_photos import shopper_photo
from tests.sample_images import image_bytes
from tests.search.search_fixtures import noise, png

pytestmark = pytest.mark.django_db


def test_a_photo_search_is_never_an_empty_page_while_the_catalog_has_products(client, tiny_models):
    from django.core.files.uploadedfile import SimpleUploadedFile

    embedding_model_activate("tiny")
    product, _ = product_upsert(sku="NEW-1", title="Just added")
    product_image_add(product=product, data=image_bytes((20, 90, 200)))  # queued, not embedded yet
    photo = SimpleUploadedFile("noise.png", png(noise(2)), content_type="image/png")
    page = client.post(reverse("search:results"), {"photo": photo}, follow=True)
    assert [hit.product.sku for hit in page.context["result"].hits] == ["NEW-1"]
    assert "Just added" in page.content.decode()


def small_catalog(count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        product, _ = product_upsert(sku=f"CAL-{n}", title=f"Calibration item {n}")
        product_image_add(product=product, data=png(noise(100 + n, 96)))


def test_too_few_photos_store_no_threshold_and_flag_nothing(tiny_models, admin_client):
    model = embedding_model_activate("tiny")
    small_catalog(5)
    assert not no_match_calibration_due(model)  # still embedding
    embeddings_process_available()
    model.refresh_from_db()
    assert no_match_calibration_due(model)
    calibration = no_match_calibration_refresh(model.pk)
    assert calibration.threshold is None and calibration.copies == 5 and no_match_distance(model) is None
    result = product_search(SearchQuery(image=noise(3), limit=5))
    assert result.close_match and len(result.hits) == 5
    page = admin_client.get(reverse("admin:search_embeddingmodel_changelist")).content.decode()
    assert "too few photos (5)" in page


def test_recalibration_is_due_after_growth_a_shrink_a_new_keep_share_or_a_switch(tiny_models, settings, admin_client):
    model = embedding_model_activate("tiny")
    small_catalog(25)
    embeddings_process_available()
    model.refresh_from_db()
    first = no_match_calibration_refresh(model.pk)
    # 25 photos, fewer than the sample (300): each copied COPIES_PER_PHOTO_MAX times.
    assert first.copies == 25 * COPIES_PER_PHOTO_MAX and first.threshold is not None and first.catalog_images == 25
    assert not no_match_calibration_due(model) and no_match_calibration_refresh(model.pk) is None  # idempotent
    # A model with no match space of its own decides on its search distances: the same threshold.
    assert first.match_space == "" and first.match_threshold == pytest.approx(first.threshold, abs=1e-4)
    NoMatchCalibration.objects.filter(model=model).update(match_space="an-older-space")
    assert no_match_calibration_due(model)  # measured in a space the model no longer judges in
    assert no_match_calibration_refresh(model.pk).match_space == ""
    assert no_match_calibration_refresh(model.pk, force=True).calibrated_at > first.calibrated_at
    small_catalog(4, start=25)  # 16% more: not yet
    embeddings_process_available()
    assert not no_match_calibration_due(model)
    small_catalog(1, start=29)  # 20%
    embeddings_process_available()
    assert no_match_calibration_due(model)
    assert no_match_calibration_refresh(model.pk).catalog_images == 30
    ProductImage.objects.filter(product__sku__in=[f"CAL-{n}" for n in range(25, 30)]).delete()  # 17% fewer
    assert not no_match_calibration_due(model)
    ProductImage.objects.filter(product__sku="CAL-24").delete()  # 20% fewer: what set the threshold may be gone
    assert no_match_calibration_due(model)
    assert no_match_calibration_refresh(model.pk).catalog_images == 24
    settings.SNAPSHELF_SEARCH_NO_MATCH_KEEP_SHARE = 0.95
    assert no_match_calibration_due(model)
    settings.SNAPSHELF_SEARCH_NO_MATCH_KEEP_SHARE = 0.99

    # A switch: the new model starts without a threshold, and its own calibration records it.
    embedding_model_activate("tiny2")
    embeddings_process_available()
    embedding_model_activation_finish_if_built()
    new = embedding_model_active()
    assert new.name == "tiny2" and no_match_distance(new) is None and no_match_calibration_due(new)
    model.refresh_from_db()
    assert model.status == EmbeddingModel.Status.RETIRED and not no_match_calibration_due(model)
    assert no_match_calibration_refresh(new.pk).model_id == new.pk
    assert NoMatchCalibration.objects.count() == 2

    page = admin_client.get(reverse("admin:search_embeddingmodel_change", args=[new.pk])).content.decode()
    assert "keeps 99% of real matches" in page and f"{24 * COPIES_PER_PHOTO_MAX} shopper-like copies" in page
    response = admin_client.post(
        reverse("admin:search_embeddingmodel_changelist"),
        {"action": "recalibrate_no_match", "_selected_action": [new.pk, model.pk]},
        follow=True,
    )
    assert "1 calibration(s) queued. Only the active model is calibrated." in response.content.decode()


def test_the_calibration_counts_search_only_shop_photos_against_their_product(tiny_models):
    model = embedding_model_activate("tiny")
    small_catalog(20)
    for product in Product.objects.all()[:6]:
        shelf = shopper_photo(noise(100 + int(product.sku.split("-")[1]), 96), seed=5)
        product_image_add(product=product, data=png(shelf), search_only=True)
    embeddings_process_available()
    calibration = no_match_calibrate(model)
    # Sampled: 26 images, 20 catalog photos copied (each COPIES_PER_PHOTO_MAX times), 6 shop photos
    # measured against them.
    assert (calibration.copies, calibration.shop_photos, calibration.catalog_images) == (
        20 * COPIES_PER_PHOTO_MAX,
        6,
        26,
    )
    assert calibration.negative_pairs == 26 * 25 // 2 - 6


def test_the_same_catalog_is_calibrated_the_same_in_any_database(tiny_models, settings):
    """The sample and the copies follow the model, the SKUs and the image bytes, not database ids
    or random(): the same catalog imported again (new ids, as in another database) gets the same
    calibration. (They followed ids once: the grocery threshold moved between two runs of the
    same code, docs/quality.md.)"""
    model = embedding_model_activate("tiny")

    def calibrated_twice(count: int) -> tuple[NoMatchCalibration, NoMatchCalibration]:
        small_catalog(count)
        embeddings_process_available()
        first = no_match_calibrate(model)
        Product.objects.all().delete()
        small_catalog(count)  # the same products and photos under new ids
        embeddings_process_available()
        return first, no_match_calibrate(model)

    # Fewer photos than the sample: every photo is copied, several times; only the seeds can differ.
    first, second = calibrated_twice(25)
    assert first.copies == second.copies == 25 * COPIES_PER_PHOTO_MAX
    assert second.positive_quantiles == pytest.approx(first.positive_quantiles, abs=1e-4)
    assert second.match_threshold == pytest.approx(first.match_threshold, abs=1e-4)
    Product.objects.all().delete()
    # More photos than the sample: which 10 are drawn matters too (the negatives are their pairs).
    settings.SNAPSHELF_SEARCH_NO_MATCH_SAMPLE = 10
    settings.SNAPSHELF_SEARCH_NO_MATCH_MIN_PHOTOS = 5
    first, second = calibrated_twice(25)
    assert first.copies == second.copies == 10
    assert second.negative_quantiles == pytest.approx(first.negative_quantiles, abs=1e-4)
    assert second.positive_quantiles == pytest.approx(first.positive_quantiles, abs=1e-4)


def test_enough_shop_photos_set_the_threshold_alone(tiny_models, settings, admin_client):
    """With SEARCH_NO_MATCH_MIN_SHOP_PHOTOS search-only shop photos in the sample, the threshold
    keeps the keep share of those real photos alone, not of the shopper-like copies. Here each
    shop photo is its catalog photo with one pixel changed (a near-perfect match), so a threshold
    from them is far tighter than one the copies on busy scenes set."""
    settings.SNAPSHELF_SEARCH_NO_MATCH_MIN_SHOP_PHOTOS = 21
    model = embedding_model_activate("tiny")
    small_catalog(21)
    for product in Product.objects.order_by("sku")[:20]:
        photo = noise(100 + int(product.sku.split("-")[1]), 96)
        photo.putpixel((0, 0), (0, 0, 0))
        product_image_add(product=product, data=png(photo), search_only=True)
    embeddings_process_available()
    with_copies = no_match_calibrate(model)
    assert with_copies.shop_photos == 20  # one short: the copies count
    last = Product.objects.order_by("sku").last()
    photo = noise(100 + int(last.sku.split("-")[1]), 96)
    photo.putpixel((0, 0), (0, 0, 0))
    product_image_add(product=last, data=png(photo), search_only=True)
    embeddings_process_available()
    shop_alone = no_match_calibrate(model)
    assert shop_alone.shop_photos == 21 and shop_alone.copies == with_copies.copies
    assert shop_alone.match_threshold < 0.5 * with_copies.match_threshold
    assert shop_alone.match_quantiles["1.0"] < with_copies.match_quantiles["0.5"]
    page = admin_client.get(reverse("admin:search_embeddingmodel_change", args=[model.pk])).content.decode()
    assert "keeps 99.5% of real matches (the shop photos alone)" in page
