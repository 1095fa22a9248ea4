"""Upserting imported rows: each row in its own transaction, failures collected, never fatal."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction

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
logger = logging.getLogger(__name__)


class DatabaseUnreachable(Exception):
    """The connection to Postgres was lost (a restart, a failover): the row did not fail, the
    database did. The transaction rolled back, or committed just before the loss; either way
    importing the row again is safe, because rows are upserted by SKU and images by content."""


@dataclass(frozen=True)
class RowOutcome:
    """What became of one row: an upsert result, or the reason it failed."""

    row_number: int
    sku: str
    result: UpsertResult | None
    product: Product | None = None
    reason: str = ""
    images_added: int = 0

    @property
    def failed(self) -> bool:
        return self.result is None


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

    def add(self, outcome: RowOutcome) -> None:
        if outcome.result is None:
            self.failures.append(RowFailure(outcome.row_number, outcome.sku, outcome.reason))
            return
        self.count(outcome.result)
        self.images_added += outcome.images_added


class CatalogImporter:
    """Imports rows into the catalog. ``images_dir`` anchors relative image paths."""

    def __init__(self, *, images_dir: Path, reconnect_seconds: float = 0.0) -> None:
        """``reconnect_seconds``: how long run() keeps retrying a row while the database is
        unreachable (0: the row fails with the connection error, as in a web request)."""
        self.images_dir = images_dir
        self.reconnect_seconds = reconnect_seconds
        self._categories: dict[str, Category | None] = {}

    def run(self, rows: Iterable[ImportRow | RowFailure], *, on_row: Callable[[], None] | None = None) -> ImportReport:
        report = ImportReport()
        for row in rows:
            report.add(self._import_row_reconnecting(row))
            if on_row is not None:
                on_row()
        return report

    def import_row(self, row: ImportRow | RowFailure) -> RowOutcome:
        """Upsert one row (its product, category and images) in its own transaction."""
        try:
            return self._import_row(row)
        except DatabaseUnreachable as exc:
            return RowOutcome(row.row_number, row.sku, None, reason=f"the database is unreachable: {exc.__cause__}")

    def _import_row_reconnecting(self, row: ImportRow | RowFailure) -> RowOutcome:
        """The same row again while Postgres restarts, waiting 0.5 s, then 1, 2, up to 5 s."""
        deadline = time.monotonic() + self.reconnect_seconds
        delay = 0.5
        while True:
            try:
                return self._import_row(row)
            except DatabaseUnreachable as exc:
                if time.monotonic() + delay > deadline:
                    return RowOutcome(
                        row.row_number, row.sku, None, reason=f"the database is unreachable: {exc.__cause__}"
                    )
                logger.warning("the database is unreachable (%s); row %d again in %.1f s", exc.__cause__,
                               row.row_number, delay)  # fmt: skip
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _import_row(self, row: ImportRow | RowFailure) -> RowOutcome:
        if isinstance(row, RowFailure):
            return RowOutcome(row.row_number, row.sku, None, reason=row.reason)
        try:
            with transaction.atomic():
                fields = dict(row.fields)
                if row.category_path:
                    fields["category"] = self._category(row.category_path)
                product, result = product_upsert(sku=row.sku, **fields)
                added = sum(self._add_image(product, image, index) for index, image in enumerate(row.images))
        except ROW_ERRORS as exc:
            # The rollback may have removed categories this row created: forget the cached ones.
            self._categories.clear()
            if _connection_lost(exc):
                connection.close()  # the next statement connects afresh
                raise DatabaseUnreachable() from exc
            reason = _validation_text(exc) if isinstance(exc, ValidationError) else str(exc)
            return RowOutcome(row.row_number, row.sku, None, reason=reason)
        if added and result is UpsertResult.UNCHANGED:
            result = UpsertResult.UPDATED
        return RowOutcome(row.row_number, row.sku, result, product, images_added=added)

    def _category(self, path: str) -> Category | None:
        if path not in self._categories:
            self._categories[path] = category_get_or_create_path(path)
        return self._categories[path]

    def _add_image(self, product: Product, source: ImageSource, index: int) -> bool:
        position = source.position if source.position is not None else index
        if source.is_url:
            _, created = product_image_add_from_url(
                product=product,
                url=source.location,
                alt_text=source.alt_text,
                position=position,
                search_only=source.search_only,
            )
            return created
        path = Path(source.location)
        if not path.is_absolute():
            path = self.images_dir / path
        if not path.is_file():
            raise RowError(f"image file {source.location!r} was not found in {self.images_dir}")
        data = path.read_bytes()
        try:
            _, created = product_image_add(
                product=product, data=data, alt_text=source.alt_text, position=position, search_only=source.search_only
            )
        except ImageRejected as exc:
            raise RowError(f"image {source.location!r}: {exc}") from exc
        return created


def _connection_lost(exc: Exception) -> bool:
    """A connection error, as opposed to an error in the row's own statements. When the
    connection dies inside the row's transaction, Django's rollback fails and closes it."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return False
    return connection.connection is None or not connection.is_usable()


def _validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
    return " ".join(exc.messages)
