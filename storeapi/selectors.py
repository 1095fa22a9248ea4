"""Reads for the API: product lists with the filters incremental sync needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from catalog.models import CATEGORY_PATH_RELATED, Category, Product, ProductImage
from catalog.selectors import category_subtree_ids


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
    """Every product (inactive ones too: a sync must see them) matching ``filters``."""
    products = Product.objects.select_related(CATEGORY_PATH_RELATED).prefetch_related(
        Prefetch("images", queryset=ProductImage.objects.order_by("position", "id"))
    )
    if filters.updated_after is not None:
        products = products.filter(updated_at__gt=filters.updated_after)
    if filters.updated_before is not None:
        products = products.filter(updated_at__lte=filters.updated_before)
    if filters.skus:
        products = products.filter(sku__in=filters.skus)
    if filters.category is not None:
        products = products.filter(category_id__in=category_subtree_ids(filters.category))
    if filters.brand:
        products = products.filter(brand__iexact=filters.brand)
    if filters.is_active is not None:
        products = products.filter(is_active=filters.is_active)
    if filters.in_stock is not None:
        products = products.filter(in_stock=filters.in_stock)
    if filters.q:
        products = products.filter(Q(title__icontains=filters.q) | Q(sku__icontains=filters.q))
    return products


def product_get(product_id: int) -> Product | None:
    return product_list(ProductListFilters()).filter(pk=product_id).first()
