"""Reads for the API: product lists with the filters incremental sync needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from catalog.models import Category, Product
from catalog.selectors import products_filtered, products_with_images


@dataclass(frozen=True)
class ProductListFilters:
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    skus: tuple[str, ...] = ()
    category: Category | None = None
    brand: str = ""
    is_active: bool | None = None
    in_stock: bool | None = None
    q: str = ""


def product_list(filters: ProductListFilters) -> QuerySet[Product]:
    """Every product (inactive ones too: a sync must see them) matching ``filters``, with its
    category and all its images loaded (the search-only ones too: the image list shows them)."""
    return products_filtered(
        products_with_images(shown_only=False),
        updated_after=filters.updated_after,
        updated_before=filters.updated_before,
        skus=filters.skus,
        category=filters.category,
        brand=filters.brand,
        is_active=filters.is_active,
        in_stock=filters.in_stock,
        title_or_sku=filters.q,
    )


def product_get(product_id: int) -> Product | None:
    return products_with_images(shown_only=False).filter(pk=product_id).first()
