"""Product writes from the API: create, update, upsert by SKU, bulk upsert, delete.

Rows are parsed by catalog.importing (the import file formats' generic columns) and upserted
by CatalogImporter, so the API, the importer and the webhooks share one path into the catalog.
Image URLs are queued for workers instead of being fetched inside the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from catalog.importing.readers import generic_record_to_row
from catalog.importing.rows import ImageSource, ImportRow, RowError, RowFailure
from catalog.importing.runner import CatalogImporter, RowOutcome
from catalog.models import Product, ProductImage
from catalog.services import UpsertResult, category_get_or_create_path, product_upsert
from storeapi.errors import Conflict
from storeapi.services.image_fetches import image_fetch_queue


class ApiCatalogImporter(CatalogImporter):
    """Image URLs go to the worker queue; local paths mean nothing to an API client."""

    def __init__(self) -> None:
        super().__init__(images_dir=Path("/nonexistent"))
        self.images_queued = 0

    def _add_image(self, product: Product, source: ImageSource, index: int) -> bool:
        if not source.is_url:
            raise RowError(f"image {source.location[:100]!r} is not an http(s) URL")
        position = source.position if source.position is not None else index
        fetch = image_fetch_queue(
            product=product,
            url=source.location,
            alt_text=source.alt_text,
            position=position,
            search_only=source.search_only,
        )
        if fetch:
            self.images_queued += 1
        return False  # added later, by the worker


@dataclass
class ProductWrite:
    """A product upsert: the row, and whether it succeeded."""

    outcome: RowOutcome
    images_queued: int = 0


def product_row_upsert(row: ImportRow | RowFailure, *, importer: ApiCatalogImporter) -> ProductWrite:
    before = importer.images_queued
    outcome = importer.import_row(row)
    return ProductWrite(outcome, importer.images_queued - before if not outcome.failed else 0)


def products_bulk_upsert(*, records: list[Any]) -> list[ProductWrite]:
    """Upsert each record on its own: a bad row fails with its reason and the others still go in."""
    importer = ApiCatalogImporter()
    return [
        product_row_upsert(api_record_to_row(index, record), importer=importer) for index, record in enumerate(records)
    ]


def api_record_to_row(index: int, record: Any) -> ImportRow | RowFailure:
    """The generic import columns, plus the flags an API client may set."""
    if not isinstance(record, Mapping):
        return RowFailure(index, "", "each product must be a JSON object")
    sku = str(record.get("sku") or "").strip()[:100]
    try:
        row = generic_record_to_row(index, dict(record))
    except RowError as exc:
        return RowFailure(index, sku, str(exc))
    for flag in ("is_active", "in_stock"):
        if flag in record:
            if not isinstance(record[flag], bool):
                return RowFailure(index, sku, f"{flag} must be true or false")
            row.fields[flag] = record[flag]
    objects = [_image_source(image) for image in _images_of(record)]
    if objects:  # {url, alt_text, position, search_only} objects instead of URL strings in "images"
        row.images = objects + [source for source in row.images if source.search_only]
    return row


def _images_of(record: Mapping[str, Any]) -> list[Any]:
    images = record.get("images")
    return [image for image in images if isinstance(image, Mapping)] if isinstance(images, list) else []


def _image_source(image: Mapping[str, Any]) -> ImageSource:
    position = image.get("position")
    return ImageSource(
        str(image.get("url") or image.get("src") or ""),
        str(image.get("alt_text") or image.get("alt") or "")[:300],
        position if isinstance(position, int) and position >= 0 else None,
        image.get("search_only") is True,
    )


# --- single products (validated by the API's serializers) ----------------------------------


def product_create(*, data: dict[str, Any]) -> tuple[Product, int]:
    """Create a product; 409 when its SKU exists. Returns the product and the images queued."""
    if Product.objects.filter(sku=data["sku"].strip()).exists():
        raise Conflict(f"A product with SKU {data['sku']!r} exists; update it or use the upsert endpoint.")
    product, _, queued = product_save(data=data)
    return product, queued


@transaction.atomic
def product_save(*, data: dict[str, Any], product: Product | None = None) -> tuple[Product, UpsertResult, int]:
    """Upsert by the SKU in ``data`` (or ``product``'s); only the given fields change."""
    fields = {name: value for name, value in data.items() if name not in ("sku", "category", "images")}
    if "category" in data:
        fields["category"] = category_get_or_create_path(data["category"]) if data["category"] else None
    sku = product.sku if product is not None else data["sku"]
    saved, result = product_upsert(sku=sku, **fields)
    queued = 0
    for index, image in enumerate(data.get("images") or []):
        position = image.get("position", index)
        fetch = image_fetch_queue(
            product=saved,
            url=image["url"],
            alt_text=image.get("alt_text", ""),
            position=position,
            search_only=image.get("search_only"),
        )
        queued += fetch is not None
    return saved, result, queued


def product_delete(*, product: Product) -> None:
    """Delete the product, its images and its search vectors (files: catalog.signals, after commit)."""
    product.delete()


def product_image_delete(*, image: ProductImage) -> None:
    image.delete()


def bulk_summary(writes: list[ProductWrite]) -> dict[str, int]:
    summary = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0, "images_queued": 0}
    for write in writes:
        summary[write.outcome.result.value if write.outcome.result else "failed"] += 1
        summary["images_queued"] += write.images_queued
    return summary
