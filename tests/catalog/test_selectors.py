"""The in-process category tree and the products loaded for result lists."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import prefetch_related_objects
from django.test.utils import CaptureQueriesContext

from catalog import selectors
from catalog.models import Category, Product, ProductImage
from catalog.selectors import (
    CATEGORY_TREE_VERSION_KEY,
    categories_by_id,
    category_paths,
    category_subtree_ids,
    product_images,
    products_for_display,
)
from catalog.services import category_get_or_create_path, product_image_add, product_upsert
from tests.sample_images import image_bytes


@pytest.mark.django_db(transaction=True)
def test_category_tree_is_read_once_until_a_change_is_committed():
    shoes = category_get_or_create_path("Footwear > Shoes")
    assert categories_by_id()[shoes.pk].full_path == "Footwear > Shoes"
    with CaptureQueriesContext(connection) as queries:
        tree = categories_by_id()
        assert tree[shoes.pk].full_path == "Footwear > Shoes"
    assert len(queries) == 0  # kept in this process
    assert (shoes.pk, "Footwear > Shoes") in category_paths()
    assert category_paths() is category_paths()  # worked out once per tree

    footwear = Category.objects.get(name="Footwear")
    with transaction.atomic():
        footwear.name = "Shoes & boots"
        footwear.save()
        # Inside the transaction the table is read each time (the change is not committed yet).
        assert categories_by_id()[shoes.pk].full_path == "Shoes & boots > Shoes"
    # Committed: every process reads the table again.
    assert categories_by_id()[shoes.pk].full_path == "Shoes & boots > Shoes"
    assert (shoes.pk, "Shoes & boots > Shoes") in category_paths()

    with transaction.atomic():
        Category.objects.create(name="Boots", slug="boots", parent=footwear)
        transaction.set_rollback(True)
    assert {c.name for c in categories_by_id().values()} == {"Shoes & boots", "Shoes"}

    shoes.delete()
    assert shoes.pk not in categories_by_id()
    assert category_subtree_ids(footwear) == [footwear.pk]


@pytest.mark.django_db(transaction=True)
def test_a_change_from_another_process_shows_after_the_recheck_interval(settings, monkeypatch):
    shoes = category_get_or_create_path("Shoes")
    settings.SNAPSHELF_CATEGORY_TREE_RECHECK_SECONDS = 60
    assert categories_by_id()[shoes.pk].name == "Shoes"
    # Another process renames it (update() sends no signal) and bumps the shared version.
    Category.objects.filter(pk=shoes.pk).update(name="Boots")
    cache.set(CATEGORY_TREE_VERSION_KEY, "changed elsewhere", timeout=None)
    with CaptureQueriesContext(connection) as queries:
        assert categories_by_id()[shoes.pk].name == "Shoes"  # within the interval: no cache read, no query
    assert len(queries) == 0
    later = time.monotonic() + 61
    monkeypatch.setattr(selectors, "time", SimpleNamespace(monotonic=lambda: later))
    assert categories_by_id()[shoes.pk].name == "Boots"


@pytest.mark.django_db
def test_products_for_display_need_no_query_per_product():
    category = category_get_or_create_path("Apparel > Tops > Shirts")
    ids = []
    for index in range(3):
        product, _ = product_upsert(sku=f"DISP-{index}", title=f"Shirt {index}", category=category)
        for colour in ((200, 0, 0), (0, 200, 0)):
            product_image_add(product=product, data=image_bytes((colour[0], colour[1], index * 40)))
        ids.append(product.pk)
    inactive, _ = product_upsert(sku="DISP-OFF", title="Gone", is_active=False)
    with CaptureQueriesContext(connection) as queries:
        products = products_for_display([*ids, inactive.pk])
        paths = {p.category.full_path for p in products.values()}
        image_counts = [len(p.images.all()) for p in products.values()]
    assert set(products) == set(ids)
    assert paths == {"Apparel > Tops > Shirts"}
    assert image_counts == [2, 2, 2]
    # Products with their images, and the category table (read each time inside a test's transaction).
    assert len(queries) == 2


@pytest.mark.django_db
def test_products_for_display_are_the_instances_the_orm_gives():
    category = category_get_or_create_path("Apparel > Shoes")
    product, _ = product_upsert(
        sku="DISP-ORM", title="Boot", category=category, attributes={"colour": "brown", "size": 42}
    )
    for position, colour in enumerate(((90, 60, 30), (30, 60, 90))):
        product_image_add(product=product, data=image_bytes(colour), position=1 - position)
    bare, _ = product_upsert(sku="DISP-BARE", title="No picture")

    loaded = products_for_display([product.pk, bare.pk])
    orm = Product.objects.prefetch_related("images").in_bulk([product.pk, bare.pk])

    for pk, instance in loaded.items():
        fields = Product._meta.concrete_fields
        assert [f.value_from_object(instance) for f in fields] == [f.value_from_object(orm[pk]) for f in fields]
        images = list(instance.images.all())
        assert [image.pk for image in images] == [
            i.pk for i in sorted(orm[pk].images.all(), key=lambda i: (i.position, i.pk))
        ]
        for image in images:
            fields = ProductImage._meta.concrete_fields
            expected = ProductImage.objects.get(pk=image.pk)
            assert [f.value_from_object(image) for f in fields] == [f.value_from_object(expected) for f in fields]
            assert image.product is instance
    assert loaded[product.pk].attributes == {"colour": "brown", "size": 42}
    assert loaded[bare.pk].images.all().count() == 0
    # The prefetched relation is still the product's own: a further filter queries its images only.
    first = next(iter(loaded[product.pk].images.all()))
    filtered = list(loaded[product.pk].images.filter(pk__gte=0))
    assert filtered == list(loaded[product.pk].images.all())
    assert all(image.product is loaded[product.pk] for image in filtered)
    assert list(loaded[bare.pk].images.filter(pk=first.pk)) == []


@pytest.mark.django_db
def test_the_prefetched_images_answer_as_prefetch_related_does_until_the_relation_changes():
    product, _ = product_upsert(sku="DISP-LAZY", title="Lamp")
    product_image_add(product=product, data=image_bytes((10, 20, 30)))
    loaded = products_for_display([product.pk])[product.pk]
    cache = loaded._prefetched_objects_cache
    assert "images" in cache and "other" not in cache and cache.get("other") is None
    assert list(product_images(loaded)) == list(cache.get("images")) == list(cache["images"])
    with CaptureQueriesContext(connection) as queries:
        assert len(loaded.images.all()) == 1  # Django's manager gets the prefetched queryset
        assert prefetch_related_objects_done(loaded)
    assert len(queries) == 0
    # Adding an image through the relation clears what was prefetched, as Django does.
    loaded.images.create(file="products/x.jpg", sha256="f" * 64, position=5)
    assert "images" not in loaded._prefetched_objects_cache
    assert len(list(product_images(loaded))) == len(loaded.images.all()) == 2
    # refresh_from_db() drops it too, before and after the queryset was made.
    for touch in (False, True):
        again = products_for_display([product.pk])[product.pk]
        if touch:
            again.images.all()
        again.refresh_from_db()
        assert "images" not in getattr(again, "_prefetched_objects_cache", {})
        assert len(list(product_images(again))) == 2


def prefetch_related_objects_done(product) -> bool:
    # prefetch_related_objects() skips a relation that is already prefetched.
    with CaptureQueriesContext(connection) as queries:
        prefetch_related_objects([product], "images")
    return len(queries) == 0
