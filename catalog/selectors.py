"""Reads from the catalog."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet

from catalog.conf import catalog_setting
from catalog.model_rows import ModelReader, model_columns, rows_fetch
from catalog.models import CATEGORY_PATH_RELATED, Category, Product, ProductImage

CATEGORY_TREE_VERSION_KEY = "snapshelf:catalog:category-tree-version"
_IMAGE_PRODUCT = ProductImage._meta.get_field("product")
_PRODUCT_CATEGORY = Product._meta.get_field("category")


def product_list_active() -> QuerySet[Product]:
    """Active products with their category and shown images loaded, newest first."""
    shown = ProductImage.objects.filter(search_only=False).order_by("position", "id")
    return (
        Product.objects.filter(is_active=True)
        .select_related(CATEGORY_PATH_RELATED)
        .prefetch_related(Prefetch("images", queryset=shown))
        .order_by("-updated_at", "-id")
    )


def products_for_display(ids: Sequence[int]) -> dict[int, Product]:
    """The active products among ``ids`` by id, with their images (in order) and their category
    with its ancestors from categories_by_id(), so neither ``images.all()`` nor
    ``category.full_path`` costs a query.

    One statement, products joined to their images, read into instances (catalog/model_rows.py)
    with the images set as a prefetched ``images`` relation. Measured on a page of 24 hits: under
    half the 2.9 ms of filter() plus prefetch_related(), which spent most of it building two ORM
    queries and a related queryset per product."""
    tree = categories_by_id()
    rows = rows_fetch(_display_sql(), [list(ids)])
    split = len(Product._meta.concrete_fields)
    products: dict[int, Product] = {}
    images: dict[int, list[ProductImage]] = {}
    product_from, image_from = ModelReader(Product), ModelReader(ProductImage)
    for row in rows:  # by product, then by the images' order; a product without images has one row of NULLs
        if row[0] not in products:
            products[row[0]] = product_from(row[:split])
            images[row[0]] = []
        if row[split] is not None:
            images[row[0]].append(image_from(row[split:]))
    for pk, product in products.items():
        _images_prefetched(product, images[pk])
        category = tree.get(product.category_id) if product.category_id is not None else None
        if category is not None:  # what ``product.category = category`` does, less its checks
            _PRODUCT_CATEGORY.set_cached_value(product, category)
    return products


@functools.cache
def _display_sql() -> str:
    product, image = Product._meta.db_table, ProductImage._meta.db_table
    return (
        f"SELECT {model_columns(Product, 'p')}, {model_columns(ProductImage, 'i')} FROM {product} p "
        f"LEFT JOIN {image} i ON i.product_id = p.id WHERE p.id = ANY(%s) AND p.is_active "
        "ORDER BY p.id, i.position, i.id"
    )


def _images_prefetched(product: Product, images: list[ProductImage]) -> None:
    """What prefetch_related("images") leaves behind, with the related queryset made only when
    something asks Django for it (see _ImagesPrefetched); each image's ``product`` set."""
    product._prefetched_objects_cache = _ImagesPrefetched(product, images)  # type: ignore[attr-defined]
    for image in images:
        _IMAGE_PRODUCT.set_cached_value(image, product)


class _ImagesPrefetched(dict[str, QuerySet[ProductImage]]):
    """A product's ``_prefetched_objects_cache`` as products_for_display() leaves it: "images" is
    prefetched (``in``, ``get``, ``[]``, ``pop`` and ``del`` answer as for prefetch_related), and
    the queryset Django's related manager returns for it is made the first time it is asked for.
    Result pages read the list through product_images() and never ask: making 24 querysets cost
    0.2 ms of every page."""

    __slots__ = ("images", "product")

    def __init__(self, product: Product, images: list[ProductImage]) -> None:
        super().__init__()
        self.product = product
        self.images: list[ProductImage] | None = images  # None once the relation was cleared

    def __missing__(self, key: str) -> QuerySet[ProductImage]:
        if key != "images" or self.images is None:
            raise KeyError(key)
        queryset = self[key] = _images_queryset(self.product, self.images)
        return queryset

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (key == "images" and self.images is not None)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401 - this is get(); __missing__ makes the queryset

    def pop(self, key: str, *default: Any) -> Any:
        if key == "images" and self.images is not None and not dict.__contains__(self, key):
            images, self.images = self.images, None
            return _images_queryset(self.product, images)
        if key == "images":
            self.images = None
        return dict.pop(self, key, *default)

    def __delitem__(self, key: str) -> None:
        self.pop(key)


def _images_queryset(product: Product, images: list[ProductImage]) -> QuerySet[ProductImage]:
    """The product's related queryset (still filtered by product, so ``product.images.filter(...)``
    stays right) holding ``images``, made as the related manager makes it (``_apply_rel_filters``:
    routing hint, the product filter deferred until the query is needed, the product known to its
    images) without its clone of a fresh queryset. tests/catalog/test_selectors.py checks that a
    further filter still keeps to the product."""
    related = ProductImage._default_manager.get_queryset()
    related._add_hints(instance=product)  # type: ignore[attr-defined]
    related._deferred_filter = (False, (), {"product": product})  # type: ignore[attr-defined]
    related._known_related_objects = {_IMAGE_PRODUCT: {product.pk: product}}  # type: ignore[attr-defined]
    related._result_cache = images
    related._prefetch_done = True  # type: ignore[attr-defined]
    return related


def product_images(product: Product) -> list[ProductImage]:
    """The images shoppers see, in order (never ``search_only`` shop photos): from the prefetched
    ones when products_for_display() or prefetch_related("images") loaded them, read without
    making a related manager (per product, that costs more than the read), else a query."""
    prefetched = getattr(product, "_prefetched_objects_cache", None)
    if type(prefetched) is _ImagesPrefetched and prefetched.images is not None:
        found: Iterable[ProductImage] = prefetched.images
    else:
        cached = prefetched.get("images") if prefetched is not None else None
        found = cached if cached is not None else product.images.all()
    return [image for image in found if not image.search_only]


class _CategoryTree:
    """Every category, parents linked, kept in this process until the version in the shared
    cache changes: catalog/signals.py calls category_tree_changed() on every save and delete;
    code that changes categories with queryset.update() or raw SQL must call it too. The version
    is asked for at most once per CATEGORY_TREE_RECHECK_SECONDS (a cache read cost ~0.1 ms, and a
    results page needs the tree twice)."""

    lock = threading.Lock()
    version: str | None = None
    by_id: dict[int, Category] = {}
    # time.monotonic() until which by_id is used without asking the cache.
    fresh_until = 0.0
    # category_paths() of by_id, with the dict it was worked out from (one attribute: read and
    # replaced whole, so a thread never pairs one tree's paths with another tree).
    paths: tuple[dict[int, Category] | None, list[tuple[int, str]]] = (None, [])


def categories_by_id() -> dict[int, Category]:
    """Every category by id, each one's ``parent`` the instance in the same dict. Shared between
    requests: read them, do not change and save them. Outside a transaction: a change committed
    in this process shows at once, one committed in another process within
    CATEGORY_TREE_RECHECK_SECONDS; in between, no query and no cache read. Inside a transaction
    (which may hold uncommitted changes) the table is read every time."""
    if connection.in_atomic_block:
        return _categories_load()
    now = time.monotonic()
    if now < _CategoryTree.fresh_until:
        return _CategoryTree.by_id
    version = cache.get(CATEGORY_TREE_VERSION_KEY)
    if version is not None and version == _CategoryTree.version:
        _CategoryTree.fresh_until = now + catalog_setting("CATEGORY_TREE_RECHECK_SECONDS")
        return _CategoryTree.by_id
    with _CategoryTree.lock:
        if version is None:
            cache.add(CATEGORY_TREE_VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(CATEGORY_TREE_VERSION_KEY)
        # Read after the version: a change committed in between only makes the next call read again.
        by_id = _categories_load()
        _CategoryTree.by_id, _CategoryTree.version = by_id, version
        _CategoryTree.fresh_until = now + catalog_setting("CATEGORY_TREE_RECHECK_SECONDS")
        return by_id


def _categories_load() -> dict[int, Category]:
    by_id = {category.pk: category for category in Category.objects.all()}
    for category in by_id.values():
        if category.parent_id is not None and category.parent_id in by_id:
            category.parent = by_id[category.parent_id]
    return by_id


def category_tree_changed() -> None:
    """Once the current transaction commits, tell every process to read the categories again
    (this one at its next read, the others within CATEGORY_TREE_RECHECK_SECONDS)."""
    transaction.on_commit(_category_tree_version_new)


def _category_tree_version_new() -> None:
    cache.set(CATEGORY_TREE_VERSION_KEY, uuid.uuid4().hex, timeout=None)
    _CategoryTree.fresh_until = 0.0


def category_subtree_ids(category: Category) -> list[int]:
    """The ids of ``category`` and every category below it."""
    children: dict[int | None, list[int]] = {}
    for node in categories_by_id().values():
        children.setdefault(node.parent_id, []).append(node.pk)
    ids, frontier = [category.pk], [category.pk]
    while frontier:
        frontier = [child for pk in frontier for child in children.get(pk, [])]
        ids.extend(frontier)
    return ids


def category_paths() -> list[tuple[int, str]]:
    """Every category as (id, full path), by parent (top level last) and then name. Worked out
    once per shared tree (see categories_by_id), so do not change the list."""
    tree = categories_by_id()
    if tree is not _CategoryTree.by_id:  # read inside a transaction: not shared
        return _paths(tree)
    memo = _CategoryTree.paths
    if memo[0] is not tree:
        memo = _CategoryTree.paths = (tree, _paths(tree))
    return memo[1]


def _paths(tree: dict[int, Category]) -> list[tuple[int, str]]:
    ordered = sorted(tree.values(), key=lambda c: (c.parent_id is None, c.parent_id or 0, c.name))
    return [(category.pk, category.full_path) for category in ordered]
