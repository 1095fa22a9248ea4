"""Reads from the catalog: plain ORM queries (select_related, prefetch_related, in_bulk)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache
from django.db.models import F, JSONField, Prefetch, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, Lower

from catalog.models import CATEGORY_PATH_RELATED, Category, Product, ProductImage


def products_with_images(*, shown_only: bool = True) -> QuerySet[Product]:
    """Products with their category path selected and their images (in order) prefetched, so
    neither ``category.full_path`` (for paths up to three levels) nor ``images.all()`` costs a
    query per product: a page of any length takes two statements. ``shown_only``: leave out the
    ``search_only`` shop photos, which shoppers never see."""
    images = ProductImage.objects.order_by("position", "id")
    if shown_only:
        images = images.filter(search_only=False)
    return Product.objects.select_related(CATEGORY_PATH_RELATED).prefetch_related(Prefetch("images", queryset=images))


def product_list_active() -> QuerySet[Product]:
    """Active products with their category and shown images loaded, newest first."""
    return products_with_images().filter(is_active=True).order_by("-updated_at", "-id")


def products_for_display(ids: Iterable[int]) -> dict[int, Product]:
    """The active products among ``ids`` by id, with their category and shown images loaded."""
    return products_with_images().filter(is_active=True).in_bulk(list(ids))


def product_images(product: Product) -> list[ProductImage]:
    """The images shoppers see, in order (never ``search_only`` shop photos); no query when they
    were prefetched (products_with_images)."""
    return [image for image in product.images.all() if not image.search_only]


def products_filtered(
    products: QuerySet[Product] | None = None,
    *,
    is_active: bool | None = None,
    category: Category | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    in_stock: bool | None = None,
    brand: str = "",
    attributes: Mapping[str, str] | None = None,
    skus: Iterable[str] = (),
    updated_after: datetime | None = None,
    updated_before: datetime | None = None,
    title_or_sku: str = "",
) -> QuerySet[Product]:
    """``products`` (default: every product) narrowed by the filters given: the one filter builder
    of the storefront, the search service and the API. None and empty values filter nothing. A
    category keeps its subcategories; brand and attribute values match case-insensitively;
    attribute keys must be checked by the caller (they become ORM lookups). Each filter can be
    answered from an index of active products (catalog/models.py, Product.Meta.indexes)."""
    products = Product.objects.all() if products is None else products
    conditions = {
        "is_active": is_active,
        "category_id__in": None if category is None else category_subtree_ids(category),
        "price__gte": price_min,
        "price__lte": price_max,
        "in_stock": in_stock,
        "brand__iexact": brand or None,
        "sku__in": list(skus) or None,
        "updated_at__gt": updated_after,
        "updated_at__lte": updated_before,
    }
    products = products.filter(**{lookup: value for lookup, value in conditions.items() if value is not None})
    for key, value in (attributes or {}).items():
        products = _attribute_filter(products, key, value)
    if title_or_sku:
        products = products.filter(Q(title__icontains=title_or_sku) | Q(sku__icontains=title_or_sku))
    return products


def attributes_folded(attributes: F | Value) -> Cast:
    """JSON with every key and string lower-cased in Postgres (the GIN index
    ``product_attributes_folded`` is built on this expression of ``attributes``)."""
    return Cast(Lower(Cast(attributes, TextField())), JSONField())


def _attribute_filter(products: QuerySet[Product], key: str, value: str) -> QuerySet[Product]:
    """Products whose attribute ``key`` is ``value``, keys and strings compared ignoring case
    (Postgres' lower()): a containment test on the lower-cased JSON, which its GIN index answers
    and whose rows Postgres can estimate from that index's statistics. A value that reads as
    JSON (42, true, ["a"]) is also looked for as that JSON: a number stored as a number."""
    found = Q(attributes_folded__contains=attributes_folded(Value({key: value}, JSONField())))
    try:
        parsed = json.loads(value.lower())
    except ValueError:
        parsed = value
    if parsed != value:
        found |= Q(attributes_folded__contains=attributes_folded(Value({key: parsed}, JSONField())))
    return products.alias(attributes_folded=attributes_folded(F("attributes"))).filter(found)


def categories_by_id() -> dict[int, Category]:
    """Every category by id (one query), each one's ``parent`` the instance in the same dict, so
    ``full_path`` costs no further query."""
    by_id = {category.pk: category for category in Category.objects.all()}
    for category in by_id.values():
        if category.parent_id is not None and category.parent_id in by_id:
            category.parent = by_id[category.parent_id]
    return by_id


CATEGORIES_VERSION_KEY = "snapshelf:catalog:categories-version"


def categories_version() -> str:
    """A token for the category tree as it is now, kept in Django's cache: a new one once any
    category's save or delete commits (catalog/signals.py), so what is cached under it (the
    storefront's category select) is never older than the tree. Read it before the categories.
    With the cache down, or the token evicted, a call starts a new token (a miss, never stale)."""
    version = cache.get(CATEGORIES_VERSION_KEY)
    if version is None:
        version = secrets.token_hex(8)
        if not cache.add(CATEGORIES_VERSION_KEY, version, timeout=None):
            version = cache.get(CATEGORIES_VERSION_KEY) or version
    return str(version)


def categories_version_bump() -> None:
    cache.delete(CATEGORIES_VERSION_KEY)


def category_subtree_ids(category: Category) -> list[int]:
    """The ids of ``category`` and every category below it (one query)."""
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.order_by().values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    ids, frontier = [category.pk], [category.pk]
    while frontier:
        frontier = [child for pk in frontier for child in children.get(pk, [])]
        ids.extend(frontier)
    return ids


def category_paths_of_products() -> list[str]:
    """The full paths of the categories that hold products, sorted (two queries)."""
    tree = categories_by_id()
    held = Product.objects.order_by().exclude(category=None).values_list("category_id", flat=True).distinct()
    return sorted(tree[pk].full_path for pk in held if pk in tree)


def category_paths(tree: dict[int, Category] | None = None) -> list[tuple[int, str]]:
    """Every category of ``tree`` (default: categories_by_id()) as (id, full path), by parent
    (top level last) and then name."""
    tree = categories_by_id() if tree is None else tree
    ordered = sorted(tree.values(), key=lambda c: (c.parent_id is None, c.parent_id or 0, c.name))
    return [(category.pk, category.full_path) for category in ordered]
