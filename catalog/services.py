"""Writes to the catalog: categories, product upserts and image intake.

Views, admin, the importer and the API call these; they never save catalog rows themselves.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.text import slugify

from catalog.conf import catalog_setting
from catalog.image_intake import image_validate
from catalog.models import Category, Product, ProductImage
from catalog.remote_images import image_url_fetch

PRODUCT_FIELDS = (
    "title", "description", "brand", "category", "price", "currency",
    "stock", "in_stock", "attributes", "url", "is_active",
)  # fmt: skip


class UpsertResult(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def category_path_split(path: str | Iterable[str]) -> list[str]:
    """``"Apparel > Topwear > Tshirts"`` (or ``/`` separated, or a list) to its names."""
    if isinstance(path, str):
        separator = ">" if ">" in path else "/"
        names = path.split(separator)
    else:
        names = list(path)
    return [name.strip() for name in names if name and name.strip()]


def category_get_or_create_path(path: str | Iterable[str]) -> Category | None:
    """The category at ``path``, creating the missing levels; None for an empty path."""
    parent: Category | None = None
    for name in category_path_split(path):
        if len(name) > 200:
            raise ValidationError(f"Category name {name[:40]!r}... is longer than 200 characters.")
        existing = Category.objects.filter(parent=parent, name=name).first()
        if existing is None:
            existing = Category.objects.create(name=name, parent=parent, slug=_category_slug(parent, name))
        parent = existing
    return parent


def _category_slug(parent: Category | None, name: str) -> str:
    base = slugify(f"{parent.slug}-{name}" if parent else name)[:240] or "category"
    slug, counter = base, 2
    while Category.objects.filter(slug=slug).exists():
        slug, counter = f"{base}-{counter}", counter + 1
    return slug


def product_upsert(*, sku: str, **fields: Any) -> tuple[Product, UpsertResult]:
    """Create or update the product with ``sku``; only the given fields change.

    A product whose given fields already hold the given values is left untouched, so its
    ``updated_at`` and its search vectors stay as they are.
    """
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise ValueError(f"unknown product fields: {sorted(unknown)}")
    sku = (sku or "").strip()
    if not sku:
        raise ValidationError({"sku": "A SKU is required."})
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(sku=sku).first()
        if product is None:
            fields.setdefault("currency", catalog_setting("DEFAULT_CURRENCY"))
            product = Product(sku=sku, **fields)
            _product_derive_stock(product, fields)
            product.full_clean()
            product.save()
            return product, UpsertResult.CREATED
        changed = [name for name, value in fields.items() if _differs(getattr(product, name), value)]
        if not changed:
            return product, UpsertResult.UNCHANGED
        for name in changed:
            setattr(product, name, fields[name])
        _product_derive_stock(product, fields)
        product.full_clean()
        product.save()
        return product, UpsertResult.UPDATED


def _product_derive_stock(product: Product, fields: Mapping[str, Any]) -> None:
    # A stock count given without an explicit in-stock flag decides the flag.
    if "stock" in fields and "in_stock" not in fields:
        product.in_stock = int(product.stock or 0) > 0


def _differs(current: Any, new: Any) -> bool:
    if isinstance(current, Decimal) and new is not None:
        return current != Decimal(str(new))
    if isinstance(current, Category) or isinstance(new, Category):
        return getattr(current, "pk", None) != getattr(new, "pk", None)
    return bool(current != new)


def product_image_add(
    *,
    product: Product,
    data: bytes,
    alt_text: str = "",
    position: int | None = None,
    source_url: str = "",
    search_only: bool | None = None,
) -> tuple[ProductImage, bool]:
    """Store ``data`` as an image of ``product``; returns (image, created).

    The same bytes on the same product are stored once: adding them again returns the
    existing image (updating alt text, position and ``search_only`` when given), so imports can
    re-run. ``search_only``: a shopper-like photo for search, never shown (None: not one, or
    unchanged for an existing image).
    """
    validated = image_validate(data)
    # Stored bytes are stripped of metadata; images stored before that carry the source's hash.
    hashes = {validated.sha256, validated.source_sha256} - {""}
    existing = ProductImage.objects.filter(product=product, sha256__in=hashes).first()
    if existing is not None:
        changed = _image_update_details(existing, alt_text=alt_text, position=position, search_only=search_only)
        if changed:
            existing.save(update_fields=[*changed, "updated_at"])
        return existing, False
    if position is None:
        last = product.images.order_by("-position").values_list("position", flat=True).first()
        position = 0 if last is None else last + 1
    image = ProductImage(
        product=product,
        position=position,
        alt_text=alt_text[:300],
        width=validated.width,
        height=validated.height,
        sha256=validated.sha256,
        source_url=source_url[:2000],
        search_only=bool(search_only),
    )
    image.file.save(f"{validated.sha256[:32]}.{validated.extension}", ContentFile(validated.data), save=False)
    try:
        image.save()
    except Exception:
        image.file.delete(save=False)
        raise
    return image, True


def _image_update_details(
    image: ProductImage, *, alt_text: str, position: int | None, search_only: bool | None = None
) -> list[str]:
    changed = []
    if search_only is not None and image.search_only != search_only:
        image.search_only = search_only
        changed.append("search_only")
    if alt_text and image.alt_text != alt_text[:300]:
        image.alt_text = alt_text[:300]
        changed.append("alt_text")
    if position is not None and image.position != position:
        image.position = position
        changed.append("position")
    return changed


def product_image_add_from_url(
    *, product: Product, url: str, alt_text: str = "", position: int | None = None, search_only: bool | None = None
) -> tuple[ProductImage, bool]:
    """Fetch ``url`` (see catalog.remote_images for the safety checks) and add it."""
    existing = ProductImage.objects.filter(product=product, source_url=url).first()
    if existing is not None:
        changed = _image_update_details(existing, alt_text=alt_text, position=position, search_only=search_only)
        if changed:
            existing.save(update_fields=[*changed, "updated_at"])
        return existing, False
    data = image_url_fetch(url)
    return product_image_add(
        product=product, data=data, alt_text=alt_text, position=position, source_url=url, search_only=search_only
    )


def product_image_replace_file(*, image: ProductImage, data: bytes) -> ProductImage:
    """Replace the bytes of an existing image (admin edits); its search vectors follow."""
    validated = image_validate(data)
    if validated.sha256 == image.sha256:
        return image
    old_name = image.file.name
    image.sha256 = validated.sha256
    image.width, image.height = validated.width, validated.height
    image.file.save(f"{validated.sha256[:32]}.{validated.extension}", ContentFile(validated.data), save=False)
    image.save()
    if old_name and old_name != image.file.name:
        image.file.storage.delete(old_name)
    return image
