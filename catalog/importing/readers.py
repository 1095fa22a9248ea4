"""One reader per import format. Each yields an ``ImportRow`` or a ``RowFailure`` per product.

Row numbers are the file's line numbers (the CSV header is line 1), so a merchant can find
the row in a spreadsheet.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from catalog.importing.rows import ImageSource, ImportRow, RowError, RowFailure

ReaderOutput = Iterator[ImportRow | RowFailure]

FORMATS = ("csv", "jsonl", "shopify-csv", "fashion-csv")
TAG_RE = re.compile(r"<[^>]+>")


def read_catalog_file(path: Path, file_format: str) -> ReaderOutput:
    readers = {
        "csv": read_generic_csv,
        "jsonl": read_jsonl,
        "shopify-csv": read_shopify_csv,
        "fashion-csv": read_fashion_csv,
    }
    return readers[file_format](path)


def guess_format(path: Path) -> str:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = handle.readline()
    if "Handle" in header and "Variant SKU" in header:
        return "shopify-csv"
    if "productDisplayName" in header and "articleType" in header:
        return "fashion-csv"
    return "csv"


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


# --- generic CSV and JSON Lines ---------------------------------------------------------------


def read_generic_csv(path: Path) -> ReaderOutput:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        _require_columns(reader.fieldnames, {"sku", "title"}, path)
        for record in reader:
            yield _row_or_failure(reader.line_num, record)


def read_jsonl(path: Path) -> ReaderOutput:
    with path.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RowFailure(line_number, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(record, dict):
                yield RowFailure(line_number, "", "each line must be a JSON object")
                continue
            yield _row_or_failure(line_number, record)


def _row_or_failure(row_number: int, record: dict[str, Any]) -> ImportRow | RowFailure:
    try:
        return generic_record_to_row(row_number, record)
    except RowError as exc:
        return RowFailure(row_number, str(record.get("sku") or "").strip(), str(exc))


def generic_record_to_row(row_number: int, record: dict[str, Any]) -> ImportRow:
    """The generic column set (also used by the API's bulk upsert)."""
    sku = _text(record.get("sku"))
    title = _text(record.get("title"))
    if not sku:
        raise RowError("sku is empty")
    if not title:
        raise RowError("title is empty")
    fields: dict[str, Any] = {"title": title}
    for name in ("description", "brand", "url"):
        if record.get(name) not in (None, ""):
            fields[name] = _text(record[name])
    if record.get("price") not in (None, ""):
        fields["price"] = parse_price(record["price"])
    if record.get("currency") not in (None, ""):
        fields["currency"] = _text(record["currency"]).upper()
    if record.get("stock") not in (None, ""):
        fields["stock"] = parse_stock(record["stock"])
    if record.get("attributes") not in (None, ""):
        fields["attributes"] = parse_attributes(record["attributes"])
    images = [ImageSource(location) for location in _split_images(record.get("images", record.get("image")))]
    # Shop photos (as shoppers take them): found by search, never shown (ProductImage.search_only).
    images += [ImageSource(location, search_only=True) for location in _split_images(record.get("search_images"))]
    return ImportRow(row_number, sku, fields, _text(record.get("category")), images)


def parse_price(value: Any) -> Decimal:
    try:
        price = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation as exc:
        raise RowError(f"price {value!r} is not a number") from exc
    if not price.is_finite() or price < 0:
        raise RowError(f"price {value!r} must be zero or more")
    if price >= Decimal("1e10"):
        raise RowError(f"price {value!r} is too large")
    return price.quantize(Decimal("0.01"))


def parse_stock(value: Any) -> int:
    try:
        stock = int(str(value).strip())
    except ValueError as exc:
        raise RowError(f"stock {value!r} is not a whole number") from exc
    if stock < 0:
        raise RowError(f"stock {value!r} must be zero or more")
    return stock


def parse_attributes(value: Any) -> dict[str, Any]:
    """A JSON object, or ``key=value; key=value``."""
    if isinstance(value, dict):
        return value
    text = str(value).strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RowError(f"attributes are not valid JSON: {exc.msg}") from exc
        if not isinstance(parsed, dict):
            raise RowError("attributes must be a JSON object")
        return parsed
    attributes = {}
    for pair in text.split(";"):
        if not pair.strip():
            continue
        key, sep, item = pair.partition("=")
        if not sep or not key.strip():
            raise RowError(f"attributes must be JSON or key=value pairs separated by ';' (got {pair!r})")
        attributes[key.strip()] = item.strip()
    return attributes


def _split_images(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    return [part.strip() for part in str(value).split("|") if part.strip()]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _require_columns(fieldnames: Any, required: set[str], path: Path) -> None:
    missing = required - set(fieldnames or [])
    if missing:
        raise RowError(f"{path.name} lacks the column(s) {', '.join(sorted(missing))}")


# --- Shopify product export ------------------------------------------------------------------


def read_shopify_csv(path: Path) -> ReaderOutput:
    """Shopify's export has one row per variant or extra image; rows of one product share a Handle."""
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        _require_columns(reader.fieldnames, {"Handle", "Title"}, path)
        for record in reader:
            handle_name = _text(record.get("Handle"))
            if not handle_name:
                yield RowFailure(reader.line_num, "", "Handle is empty")
                continue
            groups.setdefault(handle_name, []).append((reader.line_num, record))
    for handle_name, rows in groups.items():
        try:
            yield shopify_rows_to_row(handle_name, rows)
        except RowError as exc:
            yield RowFailure(rows[0][0], handle_name, str(exc))


def shopify_rows_to_row(handle_name: str, rows: list[tuple[int, dict[str, str]]]) -> ImportRow:
    first_line, first = rows[0]
    title = _text(first.get("Title"))
    if not title:
        raise RowError("Title is empty on the product's first row")
    sku = next((_text(r.get("Variant SKU")) for _, r in rows if _text(r.get("Variant SKU"))), handle_name)
    fields: dict[str, Any] = {
        "title": title,
        "description": html.unescape(TAG_RE.sub(" ", first.get("Body (HTML)") or "")).strip(),
        "brand": _text(first.get("Vendor")),
    }
    price = next((_text(r.get("Variant Price")) for _, r in rows if _text(r.get("Variant Price"))), "")
    if price:
        fields["price"] = parse_price(price)
    quantities = [_text(r.get("Variant Inventory Qty")) for _, r in rows if _text(r.get("Variant Inventory Qty"))]
    if quantities:
        fields["stock"] = sum(max(parse_stock(q), 0) for q in quantities)
    if _text(first.get("Published")).lower() in ("false", "0", "no"):
        fields["is_active"] = False
    if _text(first.get("Status")).lower() in ("draft", "archived"):
        fields["is_active"] = False
    fields["attributes"] = _shopify_attributes(rows)
    images = _shopify_images(rows)
    category = _text(first.get("Type")) or _text(first.get("Product Category"))
    return ImportRow(first_line, sku, fields, category, images)


def _shopify_attributes(rows: list[tuple[int, dict[str, str]]]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    first = rows[0][1]
    tags = [tag.strip() for tag in (first.get("Tags") or "").split(",") if tag.strip()]
    if tags:
        attributes["tags"] = tags
    for number in (1, 2, 3):
        name = _text(first.get(f"Option{number} Name"))
        if not name or name.lower() == "title":
            continue
        values = sorted({_text(r.get(f"Option{number} Value")) for _, r in rows} - {""})
        if values:
            attributes[name.lower()] = values[0] if len(values) == 1 else values
    return attributes


def _shopify_images(rows: list[tuple[int, dict[str, str]]]) -> list[ImageSource]:
    images, seen = [], set()
    for _, record in rows:
        src = _text(record.get("Image Src"))
        if not src or src in seen:
            continue
        seen.add(src)
        position = _text(record.get("Image Position"))
        images.append(
            ImageSource(src, _text(record.get("Image Alt Text")), int(position) if position.isdigit() else None)
        )
    return images


# --- the fashion data set (development and benchmarks only) ----------------------------------


def read_fashion_csv(path: Path) -> ReaderOutput:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        _require_columns(reader.fieldnames, {"id", "image", "productDisplayName"}, path)
        for record in reader:
            try:
                yield fashion_record_to_row(reader.line_num, record)
            except RowError as exc:
                yield RowFailure(reader.line_num, f"fashion-{record.get('id')}", str(exc))


def fashion_record_to_row(row_number: int, record: dict[str, str]) -> ImportRow:
    product_id = _text(record.get("id"))
    if not product_id:
        raise RowError("id is empty")
    title = _text(record.get("productDisplayName"))
    if not title:
        raise RowError("productDisplayName is empty")
    digest = int(hashlib.sha256(product_id.encode()).hexdigest()[:8], 16)
    attributes = {
        key: _text(record.get(column))
        for key, column in (("colour", "baseColour"), ("gender", "gender"), ("season", "season"),
                            ("usage", "usage"), ("article_type", "articleType"))
        if _text(record.get(column))
    }  # fmt: skip
    fields: dict[str, Any] = {
        "title": title,
        "brand": title.split(" ")[0],
        # Deterministic demo prices and stock: the data set has none.
        "price": Decimal(499 + digest % 9500) / 100,
        "stock": digest % 40,
        "attributes": attributes,
    }
    category = " > ".join(
        _text(record.get(column)) for column in ("masterCategory", "subCategory", "articleType")
        if _text(record.get(column))
    )  # fmt: skip
    images = [ImageSource(_text(record.get("image")), alt_text=title)] if _text(record.get("image")) else []
    return ImportRow(row_number, f"fashion-{product_id}", fields, category, images)
