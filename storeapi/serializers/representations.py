"""Products and search hits as plain dicts: the JSON that ProductSerializer and SearchHitSerializer
describe, built without DRF's per-instance field machinery.

A ModelSerializer builds its fields anew each time it is instantiated and walks them for every
object; for a page of 24 search hits with their images that cost more than the search's own SQL.
The serializer classes stay the API's documented shape (the OpenAPI schema is made from them);
tests/storeapi/test_representations.py checks that these functions give the same JSON.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from catalog.models import Product, ProductImage
from search.services.product_search import SearchHit

# The scalar conversions are DRF's own, so prices and times follow REST_FRAMEWORK settings
# (DATETIME_FORMAT, the time zone) exactly as the serializers do.
_PRICE = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
_DATETIME = serializers.DateTimeField()


def product_image_data(image: ProductImage, request: Request | None) -> dict[str, Any]:
    """One image, as ProductImageSerializer gives it (``url`` absolute when there is a request)."""
    url = image.file.url
    return {
        "id": image.pk,
        "url": request.build_absolute_uri(url) if request is not None else url,
        "position": image.position,
        "alt_text": image.alt_text,
        "width": image.width,
        "height": image.height,
        "source_url": image.source_url,
    }


def product_data(product: Product, request: Request | None) -> dict[str, Any]:
    """One product, as ProductSerializer gives it. Prefetch ``images`` and select the category
    path (catalog.models.CATEGORY_PATH_RELATED), or each product costs queries."""
    category = product.category
    return {
        "id": product.pk,
        "sku": product.sku,
        "title": product.title,
        "description": product.description,
        "brand": product.brand,
        "category": category.full_path if category else "",
        "category_id": product.category_id,
        "price": _PRICE.to_representation(product.price),
        "currency": product.currency,
        "stock": product.stock,
        "in_stock": product.in_stock,
        "attributes": product.attributes,
        "url": product.url,
        "is_active": product.is_active,
        "images": [product_image_data(image, request) for image in product.images.all()],
        "created_at": _DATETIME.to_representation(product.created_at),
        "updated_at": _DATETIME.to_representation(product.updated_at),
    }


def search_hit_data(hit: SearchHit, request: Request | None) -> dict[str, Any]:
    """One search hit, as SearchHitSerializer gives it."""
    return {
        "product": product_data(hit.product, request),
        "score": float(hit.score),
        "distance": None if hit.distance is None else float(hit.distance),
        "matched_image": None if hit.matched_image is None else product_image_data(hit.matched_image, request),
        "reasons": [str(reason) for reason in hit.reasons],
    }
