"""Searches from the API: the search service, plus signed cursors that remember the photo."""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from rest_framework import exceptions
from rest_framework.request import Request

from catalog.image_intake import ImageRejected
from search.conf import search_setting
from search.services.product_search import (
    SearchFilters,
    SearchQuery,
    SearchResult,
    product_search,
    query_photo_embed,
)
from storeapi.models import ApiKey

CURSOR_SALT = "storeapi.search.cursor"
SEARCH_ID_SALT = "storeapi.search.id"


@dataclass
class ApiSearch:
    text: str
    image: bytes | None
    filters: SearchFilters
    limit: int
    cursor: str = ""
    # Who the photo's token belongs to (api_search_owner): a cursor works only for its caller.
    owner: str = ""


def search_run(search: ApiSearch) -> tuple[SearchQuery, SearchResult, str | None]:
    """Run a search; returns the query it ran, the result and the cursor of the next page (None on the last)."""
    offset, image_token = _cursor_read(search.cursor) if search.cursor else (0, "")
    if search.image:
        image_token = _photo_embed(search.image, owner=search.owner)
    query = SearchQuery(
        text=search.text.strip(), image_token=image_token, owner=search.owner, filters=search.filters,
        limit=search.limit, offset=offset,
    )  # fmt: skip
    result = product_search(query)
    next_cursor = None
    # No cursor to a page the service would refuse (it ranks up to SNAPSHELF_SEARCH_MAX_DEPTH results).
    if result.has_more and offset + 2 * search.limit <= search_setting("SEARCH_MAX_DEPTH"):
        next_cursor = signing.dumps({"o": offset + search.limit, "t": result.image_token}, salt=CURSOR_SALT)
    return query, result, next_cursor


def api_search_owner(request: Request) -> str:
    """The caller a photo's token is bound to: the API key, else the staff user, else anyone
    without a key (anonymous search shares one owner)."""
    if isinstance(request.auth, ApiKey):
        return f"api-key:{request.auth.pk}"
    if request.user and request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return "api-anonymous"


def _photo_embed(data: bytes, *, owner: str) -> str:
    """The photo decoded and embedded once, kept under a token (search.services.product_search)."""
    try:
        return query_photo_embed(data, owner=owner)
    except ImageRejected as exc:
        raise exceptions.ValidationError({"image": [str(exc)]}) from exc


def _cursor_read(cursor: str) -> tuple[int, str]:
    try:
        value = signing.loads(cursor, salt=CURSOR_SALT)
        return int(value["o"]), str(value.get("t") or "")
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise exceptions.ValidationError({"cursor": ["This cursor is not valid."]}) from exc


def search_id_sign(search_id: int | None) -> str | None:
    """The id a listener kept the search under, signed: a client reports opened results with it
    (no API key needed for that, so the id must come from a real answer)."""
    return None if search_id is None else signing.dumps(search_id, salt=SEARCH_ID_SALT)


def search_id_read(value: str) -> int:
    try:
        return int(signing.loads(value, salt=SEARCH_ID_SALT))
    except (signing.BadSignature, TypeError, ValueError) as exc:
        raise exceptions.ValidationError({"search_id": ["This search_id is not valid."]}) from exc
