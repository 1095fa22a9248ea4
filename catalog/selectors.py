"""Reads from the catalog."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from catalog.models import CATEGORY_PATH_RELATED, CATEGORY_PATH_SEPARATOR, Category, Product, ProductImage


def product_list_active() -> QuerySet[Product]:
    """Active products with their category and images loaded, newest first."""
    return (
        Product.objects.filter(is_active=True)
        .select_related(CATEGORY_PATH_RELATED)
        .prefetch_related(Prefetch("images", queryset=ProductImage.objects.order_by("position", "id")))
        .order_by("-updated_at", "-id")
    )


def category_subtree_ids(category: Category) -> list[int]:
    """The ids of ``category`` and every category below it."""
    children: dict[int | None, list[int]] = {}
    for pk, parent_id in Category.objects.values_list("pk", "parent_id"):
        children.setdefault(parent_id, []).append(pk)
    ids, frontier = [category.pk], [category.pk]
    while frontier:
        frontier = [child for pk in frontier for child in children.get(pk, [])]
        ids.extend(frontier)
    return ids


def category_paths() -> list[tuple[int, str]]:
    """Every category as (id, full path), by parent and then name: one query, any depth."""
    rows = list(Category.objects.order_by("parent_id", "name").values_list("pk", "name", "parent_id"))
    by_pk = {pk: (name, parent_id) for pk, name, parent_id in rows}
    paths = []
    for pk, name, parent_id in rows:
        names = [name]
        # A parent missing from by_pk (deleted meanwhile) ends the path; len(rows) bounds a cycle.
        while parent_id in by_pk and len(names) <= len(rows):
            parent_name, parent_id = by_pk[parent_id]
            names.append(parent_name)
        paths.append((pk, CATEGORY_PATH_SEPARATOR.join(reversed(names))))
    return paths
