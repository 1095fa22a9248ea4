"""Recording searches and opened results: one INSERT each, never a broken search.

A search is recorded inside its request (one statement, ~0.2 ms); a failure is logged and the
shopper gets their results anyway. Inside a transaction the INSERT runs in a savepoint, so a
failed INSERT cannot spoil the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from insights.conf import insights_setting
from insights.models import ClickedPhoto, ResultOpen, SearchEvent
from insights.services.clicks import clicked_photo_keep
from search.events import ResultOpened, SearchDone
from search.services.model_switch import embedding_model_active

logger = logging.getLogger(__name__)

SALT_KEY = "insights:visitor-salt:{day}"


def search_record(search: SearchDone, request: HttpRequest | None) -> int | None:
    """Keep ``search``; returns its id, or None when it could not be kept (logged)."""
    try:
        event = _event(search, _visitor(request))
        if connection.in_atomic_block:
            with transaction.atomic():
                event.save(force_insert=True)
        else:
            event.save(force_insert=True)
        return event.pk
    except Exception:  # recording must never break a search
        logger.exception("could not record a search")
        return None


def _event(search: SearchDone, visitor: str) -> SearchEvent:
    active = embedding_model_active()  # kept in the process: no query most of the time
    model = active if active is not None and active.name == search.model_name else None
    return SearchEvent(
        channel=search.channel, kind=search.kind, text=search.text[:500], filters=search.filters,
        model=model, model_name=search.model_name[:100], results=len(search.product_ids),
        has_more=search.has_more, product_ids=search.product_ids, first_rank=search.first_rank,
        page=search.page, best_distance=search.best_distance, close_match=search.close_match,
        similar_to=search.similar_to, latency_ms=search.latency_ms, visitor=visitor,
        photo_token=search.photo_token[:64] if insights_setting("INSIGHTS_TUNE_FROM_CLICKS") else "",
    )  # fmt: skip


def result_open_record(opened: ResultOpened) -> ResultOpen | None:
    """Keep an opened result if it was really shown at that rank by that search, else None."""
    try:
        event = SearchEvent.objects.filter(pk=opened.search_id).only("product_ids", "first_rank", "photo_token").first()
        if event is None:
            return None
        index = opened.rank - event.first_rank
        if not 0 <= index < len(event.product_ids) or event.product_ids[index] != opened.product_id:
            return None
        kept = ResultOpen.objects.create(search_id=opened.search_id, rank=opened.rank, product_id=opened.product_id)
        if event.photo_token and insights_setting("INSIGHTS_TUNE_FROM_CLICKS"):
            clicked_photo_keep(event, opened.product_id)
        return kept
    except Exception:  # the shopper is on their way to the product; never stop them
        logger.exception("could not record an opened result")
        return None


# --- visitors ------------------------------------------------------------------------------


class _Salt:
    # (day, salt) as this process last read it from the shared cache.
    kept: tuple[dt.date | None, bytes] = (None, b"")


def _visitor(request: HttpRequest | None) -> str:
    """A hash of the shopper's address and browser with today's salt, or "" when not counted."""
    if request is None or not insights_setting("INSIGHTS_COUNT_VISITORS"):
        return ""
    address = request.META.get(insights_setting("INSIGHTS_VISITOR_ADDRESS_HEADER"), "")
    agent = request.META.get("HTTP_USER_AGENT", "")
    salt = _salt_today()
    if not salt or not address:
        return ""
    return hmac.new(salt, f"{address}\n{agent}".encode(), hashlib.sha256).hexdigest()[:16]


def _salt_today() -> bytes:
    today = timezone.now().date()
    day, salt = _Salt.kept
    if day == today:
        return salt
    try:
        # add() then get(): every process agrees on the day's salt; it expires with the day after.
        key = SALT_KEY.format(day=today.isoformat())
        cache.add(key, secrets.token_hex(16), timeout=int(timedelta(days=2).total_seconds()))
        value = cache.get(key)
    except Exception:
        logger.warning("no visitor salt (cache unavailable); visitors are not counted meanwhile", exc_info=True)
        return b""
    salt = value.encode() if isinstance(value, str) else b""
    _Salt.kept = (today, salt)
    return salt


def visitor_salt_forget() -> None:
    _Salt.kept = (None, b"")


# --- retention -----------------------------------------------------------------------------


def retention_enforce(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Delete searches and opened results older than INSIGHTS_RETENTION_DAYS; returns (searches, opens)."""
    cutoff = (now or timezone.now()) - timedelta(days=insights_setting("INSIGHTS_RETENTION_DAYS"))
    with transaction.atomic():
        # An open is never older than its search: these are all the opens of the old searches.
        opens, _ = ResultOpen.objects.filter(search__created_at__lt=cutoff).delete()
        ClickedPhoto.objects.filter(created_at__lt=cutoff).delete()
        searches, _ = SearchEvent.objects.filter(created_at__lt=cutoff).delete()
    return searches, opens
