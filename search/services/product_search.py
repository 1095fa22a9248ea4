"""The one search service used by the storefront, the API and the admin.

A query runs up to five ranked *legs* and fuses them by reciprocal rank fusion (each leg adds
``1 / (k + rank)`` to a product's score):

- ``sku``: SKU prefix matches (an exact SKU match is pinned first, above any fused score);
- ``keyword``: Postgres full-text over title, SKU, brand, category, attributes and description,
  with query words corrected against the catalog's vocabulary (search/services/keywords.py);
- ``text``: the query's text vector against product-text vectors (always);
- ``text-image``: the query's text vector against image vectors (models with one shared space);
- ``photo``: the query photo's vector against image vectors, each product once with the image
  that matched.

Every leg applies the same filters. Vector SQL lives in search/vector_store.py; the choice of
HNSW or exact scan in search/services/vector_legs.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from django.db.models import QuerySet
from PIL import Image

from catalog.image_intake import query_photo_decode
from catalog.models import Category, Product, ProductImage
from catalog.selectors import product_images, products_for_display
from catalog.selectors import products_filtered as catalog_products_filtered
from search.conf import search_setting
from search.embedders.base import Embedder, EmbedderLoadError
from search.models import EmbeddingModel
from search.replicas import search_reads_run
from search.services import keywords
from search.services.model_switch import embedding_model_active
from search.services.no_match import close_match
from search.services.query_photos import KEPT_PHOTO_SIDE, query_photo_keep, query_photo_load
from search.services.query_texts import query_text_vector
from search.services.vector_legs import ProductMatch, products_nearest
from search.vector_store import ProductFilter, vectors_of_images

logger = logging.getLogger(__name__)
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_]{1,50}$")
MAX_LIMIT = 100
ALTERNATIVES = 8  # the words' results shown beside the nearest products when none is close


@dataclass(frozen=True)
class SearchFilters:
    category: Category | None = None  # the category and everything below it
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool | None = None
    brand: str = ""
    # Product.attributes values, matched case-insensitively, e.g. {"colour": "red"}.
    attributes: dict[str, str] = field(default_factory=dict)


NO_FILTERS = SearchFilters()


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    # An upright RGB image (catalog.image_intake.image_to_rgb), or a token from an earlier
    # SearchResult.image_token so that pages and filter changes do not re-embed the photo.
    image: Image.Image | None = None
    image_token: str = ""
    # Who the photo's token belongs to (the storefront session, the API key): only the same
    # owner can use a token again (search/services/query_photos.py).
    owner: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    limit: int = 24
    offset: int = 0
    # Images that do not count as catalog images for this search (never set by shoppers): the
    # self-test's held-out shop photos, asked as queries (insights/services/self_test.py).
    images_excluded: frozenset[int] = frozenset()


@dataclass
class SearchHit:
    product: Product
    score: float  # higher is better; comparable within one result list only
    matched_image: ProductImage | None = None
    distance: float | None = None  # cosine distance of the best image (photo searches)
    reasons: list[str] = field(default_factory=list)  # e.g. ["looks alike (distance 0.21)", "title matches 'red'"]


@dataclass
class SearchResult:
    # Always the nearest products (for a photo: whenever the catalog has any), close or not.
    hits: list[SearchHit]
    has_more: bool
    # False: even the best hits are farther from the photo than the model's calibrated threshold
    # (search/services/no_match.py); say "no exact match" above the hits, never instead of them.
    close_match: bool = True
    # When close_match is False, what is offered beside the hits: "keyword" (``alternatives``, the
    # words' own results) or "category" (``suggested_categories``, when there are no words).
    fallback: str = ""
    image_token: str = ""  # reuse in SearchQuery.image_token for the next page
    model_name: str = ""
    corrected_text: str = ""  # the words searched for when some were corrected ("" when none were)
    suggested_categories: list[Category] = field(default_factory=list)
    alternatives: list[SearchHit] = field(default_factory=list)
    best_distance: float | None = None  # the photo's nearest image within the filters (photo searches)


# The query photo's vector and token per model pk (None: no model), made once per product_search call.
PhotoVectors = dict[int | None, tuple[np.ndarray | None, str]]


class SearchError(ValueError):
    """The query cannot run (empty query, unknown token, no index yet); the message says why."""


def product_search(query: SearchQuery, *, model: EmbeddingModel | None = None) -> SearchResult:
    """Run ``query``; raises SearchError with a message for people when it cannot run.
    ``model``: search another model's vectors than the active one's (the self-test of a model
    being built); its photo tokens are its own.

    Reads go to a read replica when one is configured and usable (search/replicas.py); if it
    fails mid-search the search runs again on the primary, reusing the photo's vector."""
    _validate(query)
    photos: PhotoVectors = {}  # embedded and kept once, even when the search runs a second time
    return search_reads_run(lambda: _product_search(query, model, photos))


def _product_search(query: SearchQuery, model: EmbeddingModel | None, photos: PhotoVectors) -> SearchResult:
    text = query.text.strip()
    model = model or embedding_model_active()
    product_filter = product_filter_build(query.filters, images_excluded=query.images_excluded)
    depth = query.offset + query.limit + 1  # one more than the page: has_more
    key = model.pk if model is not None else None
    if key not in photos:
        photos[key] = _query_photo_vector(query, model)
    photo, token = photos[key]
    if photo is None and not text:
        return _category_browse(query)
    result = SearchResult(hits=[], has_more=False, image_token=token, model_name=model.name if model else "")
    legs, pinned = _text_legs(text, product_filter, depth, result)
    if model is not None:
        legs += _vector_legs(model, result.corrected_text or text, photo, product_filter, depth)
    # The nearest image's distance (products rank by their best few images: not always the first's).
    photo_distances = [m.distance for leg in legs if leg.name == "photo" for m in leg.matches]
    result.best_distance = min(photo_distances, default=None)
    # With filters the shopper has said what they want ("like this, but blue"): the nearest
    # products that pass are the answer even when they are not close.
    if photo is not None and query.filters == NO_FILTERS and not _close(model, legs, photo):
        _no_close_match(result, [leg for leg in legs if leg.name in ("sku", "keyword")])
    # Word tiers order a words-only search; with a photo, looking alike weighs as much as the words.
    ranked = _fuse(legs, pinned, tiered=photo is None)
    result.hits = _hits(ranked[query.offset : query.offset + query.limit], legs)
    result.has_more = len(ranked) > query.offset + query.limit
    if photo is not None and not ranked:
        # No product has an image vector yet (new products, images still queued): the newest
        # products that pass the filters, rather than an empty page.
        browse = _category_browse(query)
        result.hits, result.has_more = browse.hits, browse.has_more
    return result


def _validate(query: SearchQuery) -> None:
    if not 1 <= query.limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT}.")
    if query.offset < 0:
        raise SearchError("offset must not be negative.")
    if query.offset + query.limit > search_setting("SEARCH_MAX_DEPTH"):
        depth = search_setting("SEARCH_MAX_DEPTH")
        raise SearchError(f"Results are available up to number {depth}; refine the search.")
    if len(query.text) > 500:
        raise SearchError("The search text is too long (500 characters at most).")
    if not query.text.strip() and query.image is None and not query.image_token and query.filters.category is None:
        raise SearchError("Type a few words, add a photo, or pick a category.")


def product_filter_build(filters: SearchFilters, *, images_excluded: frozenset[int] = frozenset()) -> ProductFilter:
    """The filters as a ``SELECT id FROM catalog_product ...`` that every leg repeats (and the
    image vectors the vector legs leave out)."""
    return _filter_compile(products_filtered(filters), broad=filters == NO_FILTERS, images_excluded=images_excluded)


def _filter_compile(
    products: QuerySet[Product], *, broad: bool, images_excluded: frozenset[int] = frozenset()
) -> ProductFilter:
    """``broad``: the filter leaves out only inactive products (or a product's own look-alikes),
    so the vector legs go straight to the index without estimating its size (a few excluded
    images do not change that: an index scan that comes back short is redone exactly)."""
    # order_by(): the model's default ordering would sort the subquery for nothing.
    sql, params = products.order_by().values("id").query.sql_with_params()
    return ProductFilter(sql, tuple(params), broad=broad, images_excluded=tuple(sorted(images_excluded)))


def products_filtered(filters: SearchFilters) -> QuerySet[Product]:
    """The active products that pass ``filters`` (catalog.selectors.products_filtered)."""
    if len(filters.attributes) > search_setting("SEARCH_MAX_ATTRIBUTE_FILTERS"):
        raise SearchError(f"At most {search_setting('SEARCH_MAX_ATTRIBUTE_FILTERS')} attribute filters.")
    for key in filters.attributes:
        if not ATTRIBUTE_KEY.match(key):
            raise SearchError(f"Unknown attribute {key[:50]!r}.")
    return catalog_products_filtered(
        is_active=True,
        category=filters.category,
        price_min=filters.price_min,
        price_max=filters.price_max,
        in_stock=filters.in_stock,
        brand=filters.brand,
        attributes=filters.attributes,
    )


# --- legs ----------------------------------------------------------------------------------


@dataclass
class Leg:
    name: str
    matches: list[ProductMatch]
    # Product id -> tier (the keyword leg's KeywordHit.tier): fusion ranks a higher tier first.
    tiers: dict[int, int] = field(default_factory=dict)


def _text_legs(
    text: str, product_filter: ProductFilter, depth: int, result: SearchResult
) -> tuple[list[Leg], int | None]:
    if not text:
        return [], None
    skus = keywords.sku_matches(text, product_filter, limit=depth)
    sku = [ProductMatch(pk, 0.0, None) for pk in skus.prefix]
    words = keywords.query_words(text)
    found = keywords.keyword_search(words, product_filter, limit=depth)
    if found.words != words:
        result.corrected_text = " ".join(found.words)
    keyword = [ProductMatch(h.product_id, 0.0, None) for h in found.hits]
    tiers = {h.product_id: h.tier for h in found.hits if h.tier}
    return [Leg("sku", sku), Leg("keyword", keyword, tiers)], skus.exact


def _vector_legs(
    model: EmbeddingModel, text: str, photo: np.ndarray | None, product_filter: ProductFilter, depth: int
) -> list[Leg]:
    def nearest(kind: str, vector: np.ndarray, best_images: int = 1) -> list[ProductMatch]:
        return products_nearest(
            model, kind, vector, products=depth, product_filter=product_filter, best_images=best_images
        )

    legs = []
    if text:
        vector = query_text_vector(model, _embedder(model), text)
        legs.append(Leg("text", nearest("product", vector)))
        if model.shared_space:
            legs.append(Leg("text-image", nearest("image", vector)))
    if photo is not None:
        legs.append(Leg("photo", nearest("image", photo, int(search_setting("SEARCH_PHOTO_BEST_IMAGES")))))
    return legs


def _embedder(model: EmbeddingModel) -> Embedder:
    from search.embedders.registry import embedder_get

    try:
        embedder = embedder_get(model.name)
    except EmbedderLoadError as exc:
        logger.error("search model %s cannot be loaded: %s", model.name, exc)
        raise SearchError("Search by photo is unavailable right now; try words instead.") from exc
    if embedder.model_id != model.model_id:
        # The settings now load other weights than the index was built with: vectors would not compare.
        logger.error("search model %s loads %s but the index holds %s", model.name, embedder.model_id, model.model_id)
        raise SearchError("The search index is being rebuilt; try again later.")
    return embedder


def query_photo_embed(data: bytes, *, owner: str) -> str:
    """The first half of a photo search: decode the photo once, at the size the active model
    needs, embed it once and keep the vector; returns the token for ``SearchQuery.image_token``,
    under which the search then runs (and pages, and changes filters) with no photo work. Only
    ``owner`` (the shopper's session, the API key) can use the token.
    Raises catalog.image_intake.ImageRejected (not an image we take) or SearchError."""
    model = _photo_model(embedding_model_active())
    embedder = _embedder(model)
    side = max(embedder.image_side, KEPT_PHOTO_SIDE if search_setting("SEARCH_KEEP_QUERY_PHOTO") else 0)
    image = query_photo_decode(
        data,
        side=side,
        max_pixels=search_setting("SEARCH_QUERY_IMAGE_MAX_PIXELS"),
        max_bytes=search_setting("SEARCH_QUERY_IMAGE_MAX_BYTES"),
    )
    return _photo_keep(model, embedder, image, owner)[1]


def _photo_model(model: EmbeddingModel | None) -> EmbeddingModel:
    if model is None:
        raise SearchError("Search by photo is not ready yet: the catalog is still being indexed.")
    return model


def _photo_keep(model: EmbeddingModel, embedder: Embedder, image: Image.Image, owner: str) -> tuple[np.ndarray, str]:
    vector = embedder.embed_query_images([image])[0]
    return vector, query_photo_keep(model=model, vector=vector, image=image, owner=owner)


def _query_photo_vector(query: SearchQuery, model: EmbeddingModel | None) -> tuple[np.ndarray | None, str]:
    if query.image is None and not query.image_token:
        return None, ""
    model = _photo_model(model)
    if query.image is not None:
        return _photo_keep(model, _embedder(model), query.image, query.owner)
    kept = query_photo_load(query.image_token, model=model, owner=query.owner)
    if kept is None:
        raise SearchError("That photo search has expired; add the photo again.")
    return kept.vector, query.image_token


# --- fusion and hits -----------------------------------------------------------------------


def _fuse(legs: Sequence[Leg], pinned: int | None, *, tiered: bool = True) -> list[tuple[int, float]]:
    """Reciprocal rank fusion within tiers (``tiered``): products the words match more
    completely (the keyword leg's tiers: every word, values named whole) come first, and the legs'
    fused score orders each tier. An exact SKU match comes above everything."""
    k = float(search_setting("SEARCH_RRF_K"))
    scores: dict[int, float] = {}
    tiers: dict[int, int] = {}
    for leg in legs:
        for rank, match in enumerate(leg.matches, start=1):
            scores[match.product_id] = scores.get(match.product_id, 0.0) + 1.0 / (k + rank)
        for pk, tier in leg.tiers.items() if tiered else ():
            tiers[pk] = max(tier, tiers.get(pk, 0))
    if pinned is not None:
        scores[pinned] = scores.get(pinned, 0.0) + len(legs) + 1.0
        tiers[pinned] = max(tiers.values(), default=0) + 1
    return sorted(scores.items(), key=lambda item: (-tiers.get(item[0], 0), -item[1], item[0]))


REASONS = {
    "sku": "SKU matches",
    "keyword": "words match",
    "text": "description is close in meaning",
    "text-image": "picture matches the words",
}


def _hits(ranked: list[tuple[int, float]], legs: Sequence[Leg]) -> list[SearchHit]:
    ids = [pk for pk, _ in ranked]
    products = products_for_display(ids)
    by_leg = {leg.name: {m.product_id: m for m in leg.matches} for leg in legs}
    hits = []
    for pk, score in ranked:
        product = products.get(pk)
        if product is None:  # deactivated between the legs and now
            continue
        hit = SearchHit(product=product, score=score)
        for name, matches in by_leg.items():
            match = matches.get(pk)
            if match is not None:
                _explain(hit, name, match)
        hits.append(hit)
    return hits


def _explain(hit: SearchHit, leg: str, match: ProductMatch) -> None:
    if leg == "photo" or (leg == "text-image" and hit.matched_image is None):
        images = {image.pk: image for image in product_images(hit.product)}
        hit.matched_image = images.get(match.image_id) if match.image_id else None
    if leg == "photo":
        hit.distance = match.distance
        hit.reasons.append(f"looks alike (distance {match.distance:.2f})")
    else:
        hit.reasons.append(REASONS[leg])


# --- no close match, browsing --------------------------------------------------------------


def _close(model: EmbeddingModel | None, legs: Sequence[Leg], vector: np.ndarray) -> bool:
    photo = next((leg for leg in legs if leg.name == "photo"), None)
    if model is None or photo is None or not photo.matches:
        return photo is None or bool(photo.matches)
    return close_match(model, vector, [m.image_id for m in photo.matches if m.image_id is not None])


def _no_close_match(result: SearchResult, keyword_legs: list[Leg]) -> None:
    """Even the best photo match is far off: beside the nearest products, offer the words' own
    results, or top-level categories to browse when there are no words."""
    result.close_match = False
    ranked = _fuse(keyword_legs, None)
    if ranked:
        result.fallback = "keyword"
        result.alternatives = _hits(ranked[:ALTERNATIVES], keyword_legs)
    else:
        result.fallback = "category"
        result.suggested_categories = list(Category.objects.filter(parent=None).order_by("name")[:12])


def _category_browse(query: SearchQuery) -> SearchResult:
    """No words and no photo, but a category: its products (and the other filters), newest first."""
    products = products_filtered(query.filters).order_by("-updated_at", "-id")
    ids = list(products.values_list("pk", flat=True)[query.offset : query.offset + query.limit + 1])
    ranked = [(pk, 0.0) for pk in ids]
    hits = _hits(ranked[: query.limit], [])
    return SearchResult(hits=hits, has_more=len(ids) > query.limit)


# --- similar products ----------------------------------------------------------------------


def products_similar(product: Product, *, limit: int = 12) -> list[SearchHit]:
    """Products whose images look like this product's, leaving out the product itself and
    products that carry a byte-identical copy of one of its images (the same photo re-listed).
    Read from a read replica when one is usable (search/replicas.py)."""
    return search_reads_run(lambda: _products_similar(product, limit))


def _products_similar(product: Product, limit: int) -> list[SearchHit]:
    model = embedding_model_active()
    images = list(product.images.all())
    if model is None or not images:
        return []
    vectors = vectors_of_images(model, [image.pk for image in images])
    others = (
        Product.objects.filter(is_active=True)
        .exclude(pk=product.pk)
        .exclude(images__sha256__in=[image.sha256 for image in images])
    )
    product_filter = _filter_compile(others, broad=True)
    best: dict[int, ProductMatch] = {}
    for vector in vectors.values():
        for match in products_nearest(model, "image", vector, products=limit, product_filter=product_filter):
            if match.product_id not in best or match.distance < best[match.product_id].distance:
                best[match.product_id] = match
    matches = sorted(best.values(), key=lambda m: (m.distance, m.product_id))[:limit]
    leg = Leg("photo", matches)
    return _hits([(m.product_id, 1.0 - m.distance) for m in matches], [leg])
