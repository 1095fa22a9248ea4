"""Upserting imported rows: each row in its own transaction, failures collected, never fatal."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from catalog.image_intake import ImageRejected
from catalog.importing.rows import ImageSource, ImportRow, RowError, RowFailure
from catalog.models import Category, Product
from catalog.remote_images import ImageFetchError
from catalog.services import (
    UpsertResult,
    category_get_or_create_path,
    product_image_add,
    product_image_add_from_url,
    product_upsert,
)

ROW_ERRORS = (RowError, ValidationError, ImageRejected, ImageFetchError, OSError, ValueError, DatabaseError)


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    images_added: int = 0
    failures: list[RowFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, result: UpsertResult) -> None:
        setattr(self, result.value, getattr(self, result.value) + 1)


class CatalogImporter:
    """Imports rows into the catalog. ``images_dir`` anchors relative image paths."""

    def __init__(self, *, images_dir: Path) -> None:
        self.images_dir = images_dir
        self._categories: dict[str, Category | None] = {}

    def run(self, rows: Iterable[ImportRow | RowFailure], *, on_row: Callable[[], None] | None = None) -> ImportReport:
        report = ImportReport()
        for row in rows:
            if isinstance(row, RowFailure):
                report.failures.append(row)
            else:
                self._import_row(row, report)
            if on_row is not None:
                on_row()
        return report

    def _import_row(self, row: ImportRow, report: ImportReport) -> None:
        try:
            with transaction.atomic():
                fields = dict(row.fields)
                if row.category_path:
                    fields["category"] = self._category(row.category_path)
                product, result = product_upsert(sku=row.sku, **fields)
                added = sum(self._add_image(product, image, index) for index, image in enumerate(row.images))
        except ValidationError as exc:
            report.failures.append(RowFailure(row.row_number, row.sku, _validation_text(exc)))
            return
        except ROW_ERRORS as exc:
            report.failures.append(RowFailure(row.row_number, row.sku, str(exc)))
            return
        if added and result is UpsertResult.UNCHANGED:
            result = UpsertResult.UPDATED
        report.count(result)
        report.images_added += added

    def _category(self, path: str) -> Category | None:
        if path not in self._categories:
            self._categories[path] = category_get_or_create_path(path)
        return self._categories[path]

    def _add_image(self, product: Product, source: ImageSource, index: int) -> bool:
        position = source.position if source.position is not None else index
        if source.is_url:
            _, created = product_image_add_from_url(
                product=product, url=source.location, alt_text=source.alt_text, position=position
            )
            return created
        path = Path(source.location)
        if not path.is_absolute():
            path = self.images_dir / path
        if not path.is_file():
            raise RowError(f"image file {source.location!r} was not found in {self.images_dir}")
        data = path.read_bytes()
        try:
            _, created = product_image_add(product=product, data=data, alt_text=source.alt_text, position=position)
        except ImageRejected as exc:
            raise RowError(f"image {source.location!r}: {exc}") from exc
        return created


def _validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
    return " ".join(exc.messages)
