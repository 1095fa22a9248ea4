"""Thin Celery tasks: they call search.services and are safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_init, worker_ready
from django.core.cache import cache
from django.db import transaction
from kombu.exceptions import OperationalError

from search.embedders.base import EmbedderLoadError
from search.embedders.registry import process_keeps_every_core
from search.services.index_queue import (
    embeddings_claimable_exist,
    embeddings_pending_exist,
    embeddings_process_available,
    embeddings_release_stale_claims,
)
from search.services.keywords import vocabulary_rebuild as vocabulary_rebuild_service
from search.services.model_switch import (
    embedding_model_activation_finish_if_built,
    embedding_model_active,
    embedding_model_bootstrap,
)
from search.services.no_match import CalibrationError, no_match_calibration_due, no_match_calibration_refresh
from search.services.query_photos import query_photos_purge as query_photos_purge_service

logger = logging.getLogger(__name__)

ENQUEUED_KEY = "search:embeddings-process-enqueued"


def embeddings_process_enqueue() -> None:
    """Tell a worker there is work. Never raises: with the broker down the sweep finds the work later."""
    try:
        if not cache.add(ENQUEUED_KEY, 1, timeout=30):
            return  # a task is already on its way
    except Exception:
        logger.debug("cache unavailable while enqueuing", exc_info=True)
    try:
        embeddings_process.apply_async(retry=False)
    except (OperationalError, OSError) as exc:
        logger.warning("could not enqueue embedding work (%s); the periodic sweep will pick it up", exc)


@shared_task(ignore_result=True, acks_late=True)
def embeddings_process() -> None:
    """Embed pending images and product texts until none are left or the time budget ends.
    While rows are left to claim, it first tells another worker, so idle workers join in one
    after another; each claims its own batches (SKIP LOCKED), so no row is embedded twice."""
    _enqueued_mark_clear()
    if embeddings_claimable_exist():
        embeddings_process_enqueue()
    embeddings_process_available()
    if embeddings_pending_exist():
        embeddings_process_enqueue()


@shared_task(ignore_result=True)
def embeddings_sweep() -> None:
    """Periodic (beat) and at worker start: recover dead workers' claims and lost messages."""
    try:
        embedding_model_bootstrap()
    except EmbedderLoadError as exc:
        logger.error("%s", exc)  # one line that names the setting; the sweep tries again next time
    embeddings_release_stale_claims()
    embedding_model_activation_finish_if_built()
    if embeddings_pending_exist():
        embeddings_process_enqueue()
    model = embedding_model_active()
    if model is not None and no_match_calibration_due(model):
        no_match_calibrate_enqueue(model.pk)


def no_match_calibrate_enqueue(model_id: int, *, force: bool = False) -> None:
    """Once the current transaction commits, ask a worker to calibrate "no close match" for the
    model. Never raises: with the broker down, the sweep finds a due calibration later."""

    def send() -> None:
        try:
            no_match_calibrate.apply_async(args=[model_id], kwargs={"force": force}, retry=False)
        except (OperationalError, OSError) as exc:
            logger.warning("could not enqueue the no-match calibration (%s); the sweep will", exc)

    transaction.on_commit(send)


@shared_task(ignore_result=True, acks_late=True)
def no_match_calibrate(model_id: int, force: bool = False) -> None:
    """Calibrate the model's no-close-match threshold when due (or forced); safe to run twice."""
    try:
        no_match_calibration_refresh(model_id, force=force)
    except CalibrationError as exc:
        logger.error("no-match calibration of model %s: %s", model_id, exc)


def model_tune_enqueue(model_id: int) -> None:
    """Once the current transaction commits, ask a worker to tune the model to the shop; raises
    OperationalError when the broker cannot take the message (the admin says so)."""
    transaction.on_commit(lambda: model_tune.apply_async(args=[model_id], retry=False))


@shared_task(ignore_result=True)
def model_tune(model_id: int) -> None:
    """Learn an adapter over the model and start building the tuned candidate (admin action)."""
    from search.models import EmbeddingModel
    from search.services.tuning import TuneError
    from search.services.tuning import model_tune as tune

    base = EmbeddingModel.objects.filter(pk=model_id).first()
    if base is None:
        return
    try:
        adapter = tune(base=base)
    except (TuneError, EmbedderLoadError) as exc:
        logger.error("tuning %s: %s", base.name, exc)
        return
    logger.info("tuned %s into %s", base.name, adapter.model_name)  # the service logged the figures
    embeddings_process_enqueue()


@shared_task(ignore_result=True)
def vocabulary_rebuild() -> None:
    """Periodic (beat): the typo vocabulary becomes exactly the catalog's words again."""
    words = vocabulary_rebuild_service()
    logger.info("search vocabulary rebuilt: %d words", words)


@shared_task(ignore_result=True)
def query_photos_purge() -> None:
    """Periodic (beat): delete expired photo queries."""
    deleted = query_photos_purge_service()
    if deleted:
        logger.info("deleted %d expired photo queries", deleted)


def _enqueued_mark_clear() -> None:
    try:
        cache.delete(ENQUEUED_KEY)
    except Exception:
        logger.debug("cache unavailable", exc_info=True)


@worker_ready.connect
def sweep_at_worker_start(**kwargs: object) -> None:
    embeddings_sweep.apply_async(retry=False)


@worker_init.connect
def worker_keeps_every_core(**kwargs: object) -> None:
    # Before the pool forks: embedding batches use every core (SNAPSHELF_TORCH_THREADS=0).
    process_keeps_every_core()
