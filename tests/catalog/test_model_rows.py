"""Rows read with a plain cursor make the instances the ORM makes, timestamps included."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.models.signals import post_init

from catalog import model_rows
from catalog.model_rows import model_columns, model_from_row, rows_fetch
from catalog.models import Product, ProductImage
from catalog.services import category_get_or_create_path, product_image_add, product_upsert
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


def read(model, pk):
    rows = rows_fetch(f"SELECT {model_columns(model, 't')} FROM {model._meta.db_table} t WHERE t.id = %s", [pk])
    return model_from_row(model, rows[0])


@pytest.fixture
def product():
    category = category_get_or_create_path("Apparel > Shoes")
    product, _ = product_upsert(sku="ROWS-1", title="Boot", category=category, attributes={"size": 42, "tags": ["a"]})
    product_image_add(product=product, data=image_bytes((90, 60, 30)), alt_text="A boot")
    return product


def test_instances_have_the_orm_instances_state_and_values(product):
    for model, pk in ((Product, product.pk), (ProductImage, product.images.get().pk)):
        ours, orm = read(model, pk), model.objects.get(pk=pk)
        assert type(ours) is model
        ours_fields = {k: v for k, v in ours.__dict__.items() if k != "_state"}
        orm_fields = {k: v for k, v in orm.__dict__.items() if k != "_state"}
        assert ours_fields == orm_fields
        assert list(ours_fields) == list(orm_fields)  # the same attributes, in the same order
        assert (ours._state.adding, ours._state.db) == (orm._state.adding, orm._state.db) == (False, "default")
        for name in ("created_at", "updated_at"):
            # The same instant and the same tzinfo object as Django's own loader gives.
            assert getattr(ours, name).tzinfo is getattr(orm, name).tzinfo is datetime.UTC


def test_instances_behave_like_the_orms(product):
    ours = read(Product, product.pk)
    assert ours.attributes == {"size": 42, "tags": ["a"]}  # the JSONField converter ran
    assert ours.category.full_path == "Apparel > Shoes"  # the foreign key loads its object
    ours.title = "Riding boot"
    ours.save(update_fields=["title"])  # saved as an existing row, not inserted
    assert Product.objects.get(pk=product.pk).title == "Riding boot"
    image = read(ProductImage, product.images.get().pk)
    assert image.file.name == product.images.get().file.name and image.file.instance is image
    assert image.product == product


def test_a_post_init_listener_gets_the_orms_construction(product):
    seen = []

    def listener(sender, instance, **kwargs):
        seen.append(instance.title)

    post_init.connect(listener, sender=Product)
    try:
        read(Product, product.pk)
    finally:
        post_init.disconnect(listener, sender=Product)
    assert seen == ["Boot"]


def test_timestamps_are_read_by_djangos_loader_unless_both_use_utc(product, settings):
    assert model_rows._timestamptz_loader(connection) is not None  # USE_TZ, UTC: psycopg's C loader
    settings.USE_TZ = False  # Django now wants naive datetimes: its own loader stays in charge
    assert model_rows._timestamptz_loader(connection) is None
    ours = read(Product, product.pk)
    assert ours.created_at.tzinfo is None
    assert ours.created_at == Product.objects.get(pk=product.pk).created_at
