"""Image URLs are fetched by workers: a request queues an ImageFetch row, a task fetches it.

The row, not the broker, records what is still to do: the periodic sweep re-sends pending rows
whose message was lost. Fetching applies catalog.remote_images' checks (timeout, size cap,
content type, no private/loopback/link-local addresses unless SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from catalog.image_intake import ImageRejected
from catalog.models import Product, ProductImage
from catalog.remote_images import ImageFetchError
from catalog.services import product_image_add_from_url
from storeapi.conf import api_setting
from storeapi.models import ImageFetch

logger = logging.getLogger(__name__)

FETCH_ERRORS = (ImageFetchError, ImageRejected, ValidationError, OSError, ValueError, DatabaseError)


def image_fetch_queue(
    *, product: Product, url: str, alt_text: str = "", position: int | None = None, search_only: bool | None = None
) -> ImageFetch | None:
    """Queue ``url`` for ``product``; None when the product already has that image or it is queued."""
    if ProductImage.objects.filter(product=product, source_url=url).exists():
        return None
    waiting = (ImageFetch.Status.PENDING, ImageFetch.Status.FETCHING)
    if ImageFetch.objects.filter(product=product, url=url, status__in=waiting).exists():
        return None
    fetch = ImageFetch.objects.create(
        product=product, url=url, alt_text=alt_text[:300], position=position, search_only=search_only
    )
    transaction.on_commit(lambda: image_fetch_enqueue(fetch.pk))
    return fetch


def image_fetch_enqueue(fetch_id: int) -> None:
    """Send the fetch to a worker. Never raises: with the broker down the sweep sends it later."""
    from storeapi.tasks import image_fetch_run

    try:
        image_fetch_run.apply_async(args=[fetch_id], retry=False)
    except (OperationalError, OSError) as exc:
        logger.warning("could not enqueue image fetch %s (%s); the sweep will send it", fetch_id, exc)


def image_fetch_process(fetch_id: int) -> ImageFetch | None:
    """Fetch one queued URL and add the image. Safe to run twice: done or failed rows are left alone.

    The fetch runs outside any transaction: a slow server must not hold a row lock (or a
    connection in a transaction) for up to SNAPSHELF_IMAGE_URL_DEADLINE. A worker claims the row
    by moving it from pending to fetching (one UPDATE: a second copy of the message finds nothing
    to claim), and records the outcome only if it still holds the claim. A worker that dies while
    fetching leaves the row to the sweep, which hands it back after IMAGE_FETCH_RETRY_AFTER_SECONDS.
    """
    claim = ImageFetch.objects.filter(pk=fetch_id, status=ImageFetch.Status.PENDING)
    if not claim.update(status=ImageFetch.Status.FETCHING, updated_at=timezone.now()):
        return None  # done, failed, gone, or another worker has it
    fetch = ImageFetch.objects.select_related("product").get(pk=fetch_id)
    try:
        image, _ = product_image_add_from_url(
            product=fetch.product,
            url=fetch.url,
            alt_text=fetch.alt_text,
            position=fetch.position,
            search_only=fetch.search_only,
        )
    except FETCH_ERRORS as exc:
        logger.info("image fetch %s from %s failed: %s", fetch.pk, fetch.url, exc)
        outcome: dict[str, Any] = {"status": ImageFetch.Status.FAILED, "error": str(exc)[:2000], "image": None}
    else:
        outcome = {"status": ImageFetch.Status.DONE, "error": "", "image": image}
    ImageFetch.objects.filter(pk=fetch.pk, status=ImageFetch.Status.FETCHING).update(
        **outcome, updated_at=timezone.now()
    )
    return ImageFetch.objects.filter(pk=fetch.pk).first()  # None when its product was deleted meanwhile


def image_fetches_process_pending(*, limit: int = 100) -> int:
    """Process pending fetches in this process (tests, and a sweep without workers)."""
    ids = list(ImageFetch.objects.filter(status=ImageFetch.Status.PENDING).values_list("id", flat=True)[:limit])
    return sum(image_fetch_process(fetch_id) is not None for fetch_id in ids)


def image_fetches_resend_stale() -> int:
    """Re-send pending fetches older than the retry age (their message was lost, or a worker died)."""
    cutoff = timezone.now() - timedelta(seconds=api_setting("IMAGE_FETCH_RETRY_AFTER_SECONDS"))
    waiting = (ImageFetch.Status.PENDING, ImageFetch.Status.FETCHING)  # fetching this long: its worker died
    ids = list(ImageFetch.objects.filter(status__in=waiting, updated_at__lt=cutoff).values_list("id", flat=True))
    # Pending again, and touched so that the next sweep waits another retry age for these.
    ImageFetch.objects.filter(pk__in=ids, status__in=waiting).update(
        status=ImageFetch.Status.PENDING, updated_at=timezone.now()
    )
    for fetch_id in ids:
        image_fetch_enqueue(fetch_id)
    return len(ids)
