"""The one search service used by the storefront, the API and the admin.

Interface agreed between the storefront, API and search work; the ranking itself lives in
``search/vector_store.py`` (vector SQL) and this module (fusion, grouping, fallbacks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from PIL import Image

from catalog.models import Category, Product, ProductImage


@dataclass(frozen=True)
class SearchFilters:
    category: Category | None = None  # the category and everything below it
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool | None = None
    brand: str = ""
    # Product.attributes values, matched case-insensitively, e.g. {"colour": "red"}.
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    # An upright RGB image (catalog.image_intake.image_to_rgb), or a token from an earlier
    # SearchResult.image_token so that pages and filter changes do not re-embed the photo.
    image: Image.Image | None = None
    image_token: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    limit: int = 24
    offset: int = 0


@dataclass
class SearchHit:
    product: Product
    score: float  # higher is better; comparable within one result list only
    matched_image: ProductImage | None = None
    distance: float | None = None  # cosine distance of the best image (photo searches)
    reasons: list[str] = field(default_factory=list)  # e.g. ["looks alike (distance 0.21)", "title matches 'red'"]


@dataclass
class SearchResult:
    hits: list[SearchHit]
    has_more: bool
    close_match: bool = True  # False: even the best hit is far from the photo; hits are a fallback
    fallback: str = ""  # "", "keyword" or "category" when close_match is False
    image_token: str = ""  # reuse in SearchQuery.image_token for the next page
    model_name: str = ""


class SearchError(ValueError):
    """The query cannot run (empty query, unknown token, no index yet); the message says why."""


def product_search(query: SearchQuery) -> SearchResult:
    raise NotImplementedError("implemented on the search branch")


def products_similar(product: Product, *, limit: int = 12) -> list[SearchHit]:
    raise NotImplementedError("implemented on the search branch")
