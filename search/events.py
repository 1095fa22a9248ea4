"""What the storefront and the API tell listeners about searches and opened results.

The search app records nothing itself. A project that wants search analytics installs an app
that listens (``insights``); without one, sending costs a function call. Views call
``search_announce`` once per answered search and ``result_announce`` when a shopper opens a
result; listeners must never raise (``send_robust`` keeps a broken listener from breaking a
search anyway) and must stay cheap: they run inside the request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from django.dispatch import Signal
from django.http import HttpRequest

from search.services.model_switch import embedding_model_active
from search.services.product_search import NO_FILTERS, SearchFilters, SearchHit, SearchQuery, SearchResult

logger = logging.getLogger(__name__)

# Sent with ``search=SearchDone, request=HttpRequest``; a listener may return the id under which
# it kept the search (the storefront links results through it, the API returns it as search_id).
search_performed = Signal()
# Sent with ``opened=ResultOpened``.
result_opened = Signal()

CHANNELS = ("storefront", "api", "widget")
KINDS = ("words", "photo", "photo_words", "similar", "category")


@dataclass(frozen=True)
class SearchDone:
    channel: str  # one of CHANNELS
    kind: str  # one of KINDS
    text: str
    filters: dict[str, Any]
    model_name: str
    product_ids: list[int]  # the products shown, in rank order
    first_rank: int  # the rank of product_ids[0] (1 on the first page)
    page: int
    latency_ms: float
    has_more: bool = False
    best_distance: float | None = None  # the photo's nearest image (photo searches)
    close_match: bool = True
    similar_to: int | None = None  # the product whose look-alikes these are (kind "similar")
    # The kept photo query's token (photo searches; search.services.query_photos): a listener may
    # read the query's vector with it while it is kept. The insights app keeps it only when the
    # merchant lets clicked photo searches tune the model (SNAPSHELF_INSIGHTS_TUNE_FROM_CLICKS).
    photo_token: str = ""


@dataclass(frozen=True)
class ResultOpened:
    search_id: int
    rank: int
    product_id: int


def query_kind(query: SearchQuery) -> str:
    photo = query.image is not None or bool(query.image_token)
    words = bool(query.text.strip())
    if photo:
        return "photo_words" if words else "photo"
    return "words" if words else "category"


def filters_data(filters: SearchFilters) -> dict[str, Any]:
    """The filters as JSON-ready values (what a merchant reads on the dashboard)."""
    if filters == NO_FILTERS:
        return {}
    data: dict[str, Any] = {}
    if filters.category is not None:
        data["category"] = filters.category.pk
    for name in ("price_min", "price_max"):
        value = getattr(filters, name)
        if value is not None:
            data[name] = str(value)
    if filters.in_stock is not None:
        data["in_stock"] = filters.in_stock
    if filters.brand:
        data["brand"] = filters.brand
    data.update(filters.attributes)
    return data


def search_announce(
    request: HttpRequest, *, channel: str, query: SearchQuery, result: SearchResult, started: float
) -> int | None:
    """Tell listeners about an answered search (``started``: time.perf_counter() before it ran)."""
    limit = query.limit or 1
    done = SearchDone(
        channel=channel, kind=query_kind(query), text=query.text.strip(), filters=filters_data(query.filters),
        model_name=result.model_name, product_ids=[hit.product.pk for hit in result.hits],
        first_rank=query.offset + 1, page=query.offset // limit + 1,
        latency_ms=(time.perf_counter() - started) * 1000.0, has_more=result.has_more,
        best_distance=result.best_distance, close_match=result.close_match,
        photo_token=result.image_token or query.image_token or "",
    )  # fmt: skip
    return _send(done, request)


def similar_announce(
    request: HttpRequest, *, channel: str, product_id: int, hits: list[SearchHit], started: float
) -> int | None:
    """Tell listeners about a list of look-alikes shown for ``product_id``."""
    model = embedding_model_active()
    done = SearchDone(
        channel=channel, kind="similar", text="", filters={}, model_name=model.name if model else "",
        product_ids=[hit.product.pk for hit in hits], first_rank=1, page=1,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        best_distance=min((h.distance for h in hits if h.distance is not None), default=None),
        similar_to=product_id,
    )  # fmt: skip
    return _send(done, request)


def result_announce(*, search_id: int, rank: int, product_id: int) -> None:
    for receiver, response in result_opened.send_robust(
        sender=ResultOpened, opened=ResultOpened(search_id, rank, product_id)
    ):
        if isinstance(response, Exception):
            logger.error("result_opened listener %r failed: %s", receiver, response)


def _send(done: SearchDone, request: HttpRequest) -> int | None:
    kept: int | None = None
    for receiver, response in search_performed.send_robust(sender=SearchDone, search=done, request=request):
        if isinstance(response, Exception):
            logger.error("search_performed listener %r failed: %s", receiver, response)
        elif isinstance(response, int) and kept is None:
            kept = response
    return kept
