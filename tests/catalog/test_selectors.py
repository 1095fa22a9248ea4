"""Catalog reads: the category tree, products loaded for pages, and the one filter builder."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Category, Product
from catalog.selectors import (
    categories_by_id,
    category_paths,
    category_paths_of_products,
    category_subtree_ids,
    product_images,
    products_filtered,
    products_for_display,
)
from catalog.services import category_get_or_create_path, product_image_add, product_upsert
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.sample_images import image_bytes

pytestmark = pytest.mark.django_db


def test_category_tree_is_one_query_and_always_current():
    shoes = category_get_or_create_path("Footwear > Shoes")
    with CaptureQueriesContext(connection) as queries:
        tree = categories_by_id()
        assert tree[shoes.pk].full_path == "Footwear > Shoes"
    assert len(queries) == 1
    assert (shoes.pk, "Footwear > Shoes") in category_paths()

    # update() sends no signal: there is no copy to forget, so the next read sees it.
    Category.objects.filter(pk=shoes.parent_id).update(name="Shoes & boots")
    assert categories_by_id()[shoes.pk].full_path == "Shoes & boots > Shoes"
    boots = category_get_or_create_path("Shoes & boots > Boots")
    assert sorted(category_subtree_ids(shoes.parent)) == sorted([shoes.parent_id, shoes.pk, boots.pk])
    assert category_subtree_ids(shoes) == [shoes.pk]


def test_category_paths_are_grouped_by_parent_with_the_top_level_last():
    category_get_or_create_path("B > Y")
    category_get_or_create_path("A > X")
    assert [path for _, path in category_paths()] == ["B > Y", "A > X", "A", "B"]  # B was made first


def test_category_paths_of_products_name_only_categories_that_hold_products():
    shirts = category_get_or_create_path("Apparel > Tops > Shirts")
    category_get_or_create_path("Apparel > Shoes")  # holds no product
    for sku in ("PATH-1", "PATH-2"):
        product_upsert(sku=sku, title="A shirt", category=shirts)
    product_upsert(sku="PATH-3", title="Uncategorised")
    with CaptureQueriesContext(connection) as queries:
        assert category_paths_of_products() == ["Apparel > Tops > Shirts"]
    assert len(queries) == 2


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
        image_counts = [len(product_images(p)) for p in products.values()]
    assert set(products) == set(ids)
    assert paths == {"Apparel > Tops > Shirts"}
    assert image_counts == [2, 2, 2]
    assert len(queries) == 2  # products with their category path, then their images


def test_product_images_are_in_position_order():
    product = ProductFactory()
    second, _ = product_image_add(product=product, data=image_bytes((1, 2, 3)), position=2)
    first, _ = product_image_add(product=product, data=image_bytes((3, 2, 1)), position=1)
    loaded = products_for_display([product.pk])[product.pk]
    assert product_images(loaded) == [first, second]


def test_products_filtered_applies_each_filter():
    shoes = category_get_or_create_path("Footwear > Shoes")
    boots = category_get_or_create_path("Footwear > Boots")
    red = ProductFactory(sku="RED-1", title="Red shoe", category=shoes, price=Decimal("30"), brand="Acme",
                         attributes={"colour": "Red"})  # fmt: skip
    blue = ProductFactory(sku="BLU-1", title="Blue boot", category=boots, price=Decimal("80"), in_stock=False,
                          attributes={"colour": "blue"})  # fmt: skip
    gone = ProductFactory(sku="OLD-1", title="Old shoe", category=shoes, is_active=False)

    def found(**filters: object) -> set[str]:
        return set(products_filtered(**filters).values_list("sku", flat=True))  # type: ignore[arg-type]

    assert found() == {"RED-1", "BLU-1", "OLD-1"}
    assert found(is_active=True) == {"RED-1", "BLU-1"}
    assert found(category=shoes.parent) == {"RED-1", "BLU-1", "OLD-1"}
    assert found(category=boots) == {"BLU-1"}
    assert found(price_min=Decimal("50")) == {"BLU-1"}
    assert found(price_max=Decimal("50"), is_active=True) == {"RED-1"}
    assert found(in_stock=False) == {"BLU-1"}
    assert found(brand="ACME") == {"RED-1"}
    assert found(attributes={"colour": "red"}) == {"RED-1"}
    assert found(skus=["BLU-1", "OLD-1"]) == {"BLU-1", "OLD-1"}
    assert found(title_or_sku="shoe") == {"RED-1", "OLD-1"}
    Product.objects.filter(pk=gone.pk).update(updated_at=timezone.now() - timedelta(days=2))
    yesterday = timezone.now() - timedelta(days=1)
    assert found(updated_after=yesterday) == {"RED-1", "BLU-1"}
    assert found(updated_before=yesterday) == {"OLD-1"}
    assert red.pk and blue.pk


def test_attribute_filter_ignores_case_and_finds_json_values_by_their_text():
    """The index-friendly form (containment on the lower-cased JSON) finds a value whatever its
    case, and a number, boolean or list stored as JSON from its text."""
    stored = {
        "STR": {"colour": "RED"},
        "NUM": {"size": 42},
        "BOOL": {"organic": True},
        "LIST": {"tags": ["Summer", "Sale"]},
        "QUOTE": {"note": 'He said "Hi" \\ bye'},
        "UMLAUT": {"colour": "Grün"},
        "KEY": {"Colour": "red"},  # keys ignore case too
        "OTHER": {"colour": "redder"},
        "NONE": {},
    }
    for sku, attributes in stored.items():
        ProductFactory(sku=sku, attributes=attributes)

    def found(key: str, value: str) -> set[str]:
        return set(products_filtered(attributes={key: value}).values_list("sku", flat=True))

    assert found("colour", "red") == {"STR", "KEY"}
    assert found("Colour", "Red") == {"STR", "KEY"}
    assert found("size", "42") == found("size", "42.0") == {"NUM"}
    assert found("size", "43") == set()
    assert found("organic", "TRUE") == {"BOOL"}
    assert found("tags", '["summer", "sale"]') == {"LIST"}
    assert found("note", 'he said "hi" \\ BYE') == {"QUOTE"}
    assert found("colour", "GRÜN") == {"UMLAUT"}
    assert found("colour", "re") == set()


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"price_max": Decimal("5")}, "product_active_price"),
        ({"category": "tops"}, "product_active_category|catalog_product_category_id"),
        ({"in_stock": False}, "product_active_stock|catalog_pro_is_acti_b437d7_idx"),
        ({"brand": "acme"}, "product_brand_upper"),
        ({"attributes": {"colour": "red"}}, "product_attributes_folded"),
    ],
)
def test_shoppers_filters_can_be_answered_from_an_index(filters, index):
    """The SQL the filter builder writes matches the expression and predicate of its index (a
    mismatch would leave a selective filter scanning the whole catalog). Many products that the
    filter does not keep, and fresh statistics: on a near-empty table every index over active
    products costs the same, and the planner may take any of them."""
    product = ProductFactory(brand="Acme", attributes={"colour": "red"})
    others = ProductFactory.build_batch(
        400,
        category=CategoryFactory(),
        brand="Other",
        attributes={"colour": "blue"},
        price=Decimal("100"),
        in_stock=True,
    )
    Product.objects.bulk_create(others)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
    if filters.get("category") == "tops":
        filters = {"category": product.category}
    products = products_filtered(is_active=True, **filters).order_by().values("id")
    sql, params = products.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert any(name in plan for name in index.split("|")), plan
