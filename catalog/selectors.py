"""Reads from the catalog."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from catalog.models import CATEGORY_PATH_RELATED, Category, Product, ProductImage


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
