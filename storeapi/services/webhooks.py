"""Product webhooks from Shopify and WooCommerce: verify, de-duplicate, map, upsert or delete.

Both platforms sign the raw body: base64(HMAC-SHA256(secret, body)). Each delivery id is
recorded in the same transaction as its catalog change, so a redelivery changes nothing; a
delivery older than the last one applied to a product (by the platform's own modification
time) is skipped, because platforms do not promise order. A payload whose modification time is
outside SNAPSHELF_WEBHOOK_MAX_AGE_SECONDS of now is refused: the signature proves who wrote a
body, not when, and a captured body could otherwise be sent again under a new delivery id. A
delete leaves a tombstone (the link to the platform id, without a product, at the delete's time),
so an update delivered after the delete is stale too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.importing.readers import TAG_RE, parse_price, parse_stock
from catalog.importing.rows import ImageSource, ImportRow, RowError
from catalog.models import Product, ProductImage
from storeapi.conf import api_setting
from storeapi.models import ExternalProduct, ImageFetch, Platform, WebhookDelivery
from storeapi.services.products import ApiCatalogImporter, product_delete, product_image_delete

logger = logging.getLogger(__name__)


class WebhookRejected(ValueError):
    """The payload cannot be applied (not a product, bad values); the message says why."""


@dataclass(frozen=True)
class WebhookEvent:
    platform: str
    action: str  # "upsert" or "delete"
    topic: str
    delivery_id: str
    payload: dict[str, Any]
    shop_domain: str = ""
    sent_at: datetime | None = None  # the platform's own header time, when it sends one


class WebhookTooOld(WebhookRejected):
    """The payload's time is outside the freshness window."""


def webhook_signature_valid(*, platform: str, body: bytes, signature: str) -> bool:
    configured = api_setting("SHOPIFY_WEBHOOK_SECRET" if platform == Platform.SHOPIFY else "WOOCOMMERCE_WEBHOOK_SECRET")
    secrets = [configured] if isinstance(configured, str) else list(configured)
    for secret in filter(None, secrets):
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        if hmac.compare_digest(expected.encode(), signature.strip().encode()):
            return True
    return False


def webhook_handle(event: WebhookEvent) -> str:
    """Apply one delivery; returns what happened: created/updated/unchanged/deleted/duplicate/stale/ignored."""
    with transaction.atomic():
        if event.delivery_id:
            _, new = WebhookDelivery.objects.get_or_create(
                platform=event.platform, delivery_id=event.delivery_id[:200], defaults={"topic": event.topic[:100]}
            )
            if not new:
                return "duplicate"
        external_id = str(event.payload.get("id") or "").strip()
        if not external_id:
            raise WebhookRejected("the payload has no product id")
        if event.action == "delete":
            return _external_product_delete(event.platform, external_id, _fresh(event.sent_at) or timezone.now())
        row, remote_updated_at = MAPPERS[event.platform](event)
        return _external_product_upsert(event.platform, external_id, row, _fresh(remote_updated_at))


def _fresh(moment: datetime | None) -> datetime | None:
    """``moment``, or WebhookTooOld when it is outside the window around now."""
    window = api_setting("WEBHOOK_MAX_AGE_SECONDS")
    if moment is None or not window:
        return moment
    age = (timezone.now() - moment).total_seconds()
    if not -window <= age <= window:
        raise WebhookTooOld(f"the payload's time {moment.isoformat()} is more than {window} seconds from now")
    return moment


def _external_product_upsert(
    platform: str, external_id: str, row: ImportRow, remote_updated_at: datetime | None
) -> str:
    link = ExternalProduct.objects.select_for_update().filter(platform=platform, external_id=external_id).first()
    if link is not None:
        if _is_stale(link, remote_updated_at):
            return "stale"
        if link.product is not None:
            row.sku = link.product.sku  # the first SKU sticks, even if the platform's variant SKU changes
    outcome = ApiCatalogImporter().import_row(row)
    if outcome.product is None:
        raise WebhookRejected(outcome.reason)
    ExternalProduct.objects.update_or_create(
        platform=platform, external_id=external_id,
        defaults={"product": outcome.product, "remote_updated_at": remote_updated_at},
    )  # fmt: skip
    _images_prune(outcome.product, {image.location for image in row.images})
    return outcome.result.value if outcome.result else "failed"


def _is_stale(link: ExternalProduct, remote_updated_at: datetime | None) -> bool:
    if remote_updated_at is None or link.remote_updated_at is None:
        return False
    if link.product is None:  # a tombstone wins a tie: the delete came after the update of that moment
        return remote_updated_at <= link.remote_updated_at
    return remote_updated_at < link.remote_updated_at


def _images_prune(product: Product, keep_urls: set[str]) -> None:
    """Images the platform no longer lists go (uploaded images, with no source URL, and the
    merchant's search-only shop photos stay)."""
    gone = (
        ProductImage.objects.filter(product=product, search_only=False)
        .exclude(source_url="")
        .exclude(source_url__in=keep_urls)
    )
    for image in gone:
        product_image_delete(image=image)
    ImageFetch.objects.filter(product=product, status=ImageFetch.Status.PENDING).exclude(url__in=keep_urls).update(
        status=ImageFetch.Status.FAILED, error="The platform no longer lists this image."
    )


def _external_product_delete(platform: str, external_id: str, deleted_at: datetime) -> str:
    link, _ = ExternalProduct.objects.select_for_update().get_or_create(platform=platform, external_id=external_id)
    product = link.product
    if link.remote_updated_at and link.remote_updated_at > deleted_at:
        return "stale"  # an update newer than this delete was applied
    # The tombstone: no product, and the delete's time, against which later updates are compared.
    link.product, link.remote_updated_at = None, deleted_at
    link.save(update_fields=["product", "remote_updated_at"])
    if product is None:
        return "ignored"  # never seen, or already deleted
    product_delete(product=product)
    return "deleted"


# --- platform payloads -------------------------------------------------------------------


def _plain_text(value: Any) -> str:
    return html.unescape(TAG_RE.sub(" ", str(value or ""))).strip()


def _field(mapping: Any, name: str) -> Any:
    return mapping.get(name) if isinstance(mapping, dict) else None


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _timestamp(value: Any, *, naive_is_utc: bool = False) -> datetime | None:
    parsed = parse_datetime(str(value)) if value else None
    if parsed is not None and parsed.tzinfo is None and naive_is_utc:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _title(value: Any) -> str:
    title = str(value or "").strip()
    if not title:
        raise WebhookRejected("the product has no title")
    return title[:500]


def _price(value: Any) -> Decimal | None:
    try:
        return parse_price(value) if value not in (None, "") else None
    except RowError as exc:
        raise WebhookRejected(str(exc)) from exc


def shopify_product_to_row(event: WebhookEvent) -> tuple[ImportRow, datetime | None]:
    """Shopify's product JSON (REST Admin API, the format of products/create and products/update)."""
    product = event.payload
    variants = _objects(product.get("variants"))
    sku = next((str(v["sku"]).strip() for v in variants if str(v.get("sku") or "").strip()), "")
    fields: dict[str, Any] = {
        "title": _title(product.get("title")),
        "description": _plain_text(product.get("body_html")),
        "brand": str(product.get("vendor") or "")[:200],
        "is_active": str(product.get("status") or "active") == "active",
    }
    price = _price(_field(variants[0], "price") if variants else None)
    if price is not None:
        fields["price"] = price
    quantities = [v["inventory_quantity"] for v in variants if isinstance(v.get("inventory_quantity"), int)]
    if quantities:
        fields["stock"] = sum(max(quantity, 0) for quantity in quantities)
    tags = [tag.strip() for tag in str(product.get("tags") or "").split(",") if tag.strip()]
    fields["attributes"] = {"tags": tags} if tags else {}
    handle = str(product.get("handle") or "").strip()
    if handle and event.shop_domain:
        fields["url"] = f"https://{event.shop_domain}/products/{handle}"[:1000]
    images = sorted(_objects(product.get("images")), key=lambda image: _int(image.get("position"), 0))
    sources = [
        ImageSource(str(image["src"]), str(image.get("alt") or "")[:300], index)
        for index, image in enumerate(images)
        if str(image.get("src") or "").startswith(("http://", "https://"))
    ]
    row = ImportRow(0, sku or f"shopify-{product['id']}", fields, str(product.get("product_type") or ""), sources)
    return row, _timestamp(product.get("updated_at"))


def woocommerce_product_to_row(event: WebhookEvent) -> tuple[ImportRow, datetime | None]:
    """WooCommerce's product JSON (REST API v3, the format of product.created and product.updated)."""
    product = event.payload
    fields: dict[str, Any] = {
        "title": _title(product.get("name")),
        "description": _plain_text(product.get("description")) or _plain_text(product.get("short_description")),
        "is_active": str(product.get("status") or "publish") == "publish",
        "url": str(product.get("permalink") or "")[:1000],
    }
    price = _price(product.get("price") or product.get("regular_price"))
    if price is not None:
        fields["price"] = price
    if product.get("stock_quantity") not in (None, ""):
        try:
            fields["stock"] = max(parse_stock(product["stock_quantity"]), 0)
        except RowError:
            fields["stock"] = 0  # WooCommerce allows negative stock (backorders)
    if product.get("stock_status"):
        fields["in_stock"] = product["stock_status"] in ("instock", "onbackorder")
    fields["attributes"] = _woocommerce_attributes(product)
    categories = _objects(product.get("categories"))
    category = str(categories[0].get("name") or "") if categories else ""
    sources = [
        ImageSource(str(image["src"]), str(image.get("alt") or "")[:300], index)
        for index, image in enumerate(_objects(product.get("images")))
        if str(image.get("src") or "").startswith(("http://", "https://"))
    ]
    sku = str(product.get("sku") or "").strip() or f"woocommerce-{product['id']}"
    return ImportRow(0, sku, fields, html.unescape(category), sources), _timestamp(
        product.get("date_modified_gmt"), naive_is_utc=True
    )


def _woocommerce_attributes(product: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for attribute in _objects(product.get("attributes")):
        options = [str(option) for option in attribute.get("options") or [] if str(option).strip()]
        if attribute.get("name") and options:
            attributes[str(attribute["name"]).lower()] = options[0] if len(options) == 1 else options
    tags = [str(tag.get("name")) for tag in _objects(product.get("tags")) if tag.get("name")]
    if tags:
        attributes["tags"] = tags
    return attributes


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) else default


MAPPERS: dict[str, Callable[[WebhookEvent], tuple[ImportRow, datetime | None]]] = {
    Platform.SHOPIFY: shopify_product_to_row,
    Platform.WOOCOMMERCE: woocommerce_product_to_row,
}
