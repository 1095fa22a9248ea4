"""Thin Celery tasks: they take ids, call storeapi.services and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from storeapi.services.image_fetches import image_fetch_process, image_fetches_resend_stale


# The fetch has its own wall-clock deadline (SNAPSHELF_IMAGE_URL_DEADLINE, 30 s by default); the
# time limits stop a task that hangs anyway (in DNS, or decoding), and free its worker.
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=60, time_limit=90)
def image_fetch_run(fetch_id: int) -> None:
    image_fetch_process(fetch_id)


@shared_task(ignore_result=True)
def image_fetches_sweep() -> None:
    """Periodic (beat): pending fetches whose message was lost go to a worker again."""
    image_fetches_resend_stale()
