"""Thin Celery tasks: they take ids, call storeapi.services and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from storeapi.services.image_fetches import image_fetch_process, image_fetches_resend_stale


@shared_task(ignore_result=True, acks_late=True)
def image_fetch_run(fetch_id: int) -> None:
    image_fetch_process(fetch_id)


@shared_task(ignore_result=True)
def image_fetches_sweep() -> None:
    """Periodic (beat): pending fetches whose message was lost go to a worker again."""
    image_fetches_resend_stale()
