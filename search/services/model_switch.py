"""Which model the index serves, and switching models without breaking search.

``embedding_model_activate(name)`` registers the model as *building* and marks every image
and product pending for it; workers build its vectors while search keeps using the active
model. When nothing is left pending, its HNSW indexes are built and it becomes active in one
transaction (the old model retires). ``embedding_model_prune`` deletes retired vectors.

A *gated* candidate (``gated=True``: a tuned model) is not made active when built: it becomes
*waiting* and ``candidate_built`` is sent; a listener (the insights app's gate) compares its
self-test with the active model's and activates it only when it is better. Otherwise it waits
until the merchant activates it (``embedding_model_activate`` again, which ungates it).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from search.conf import search_setting
from search.models import EmbeddingModel, EmbeddingStatus, ImageEmbedding, ProductEmbedding
from search.selectors import embedding_model_activation_blocked
from search.services.index_queue import KINDS, embeddings_fill_missing
from search.vector_store import MAX_PLAIN_DIM, hnsw_indexes_create, hnsw_indexes_drop, hnsw_indexes_rebuild

logger = logging.getLogger(__name__)


# Sent (after commit) with ``model=EmbeddingModel, inline=bool`` when a gated candidate is built
# and waits: a listener compares it with the active model (in the background, or in this process
# when ``inline``) and activates it when it is better.
candidate_built = Signal()


class ModelSwitchError(ValueError):
    """The model cannot be activated; the message says why."""


def embedding_model_active() -> EmbeddingModel | None:
    """The model searches use, read on every call (one indexed statement), so a switch or a
    reindex shows in the next search of every process."""
    return EmbeddingModel.objects.filter(status=EmbeddingModel.Status.ACTIVE).first()


def embedding_model_register(name: str) -> EmbeddingModel:
    """The row for the weights ``name`` loads now (loading the model to learn its id and dims)."""
    from search.embedders.registry import embedder_get

    embedder = embedder_get(name)
    if max(embedder.image_dim, embedder.text_dim) > MAX_PLAIN_DIM:
        raise ModelSwitchError(f"{name}: vectors over {MAX_PLAIN_DIM} dimensions are not supported")
    model, _ = EmbeddingModel.objects.get_or_create(
        model_id=embedder.model_id,
        defaults={
            "name": name,
            "image_dim": embedder.image_dim,
            "text_dim": embedder.text_dim,
            "shared_space": embedder.shared_space,
            "status": EmbeddingModel.Status.RETIRED,
        },
    )
    return model


def embedding_model_activate(name: str, *, gated: bool = False, note: str = "") -> EmbeddingModel:
    """Start building ``name``; it becomes active once its vectors are built. Idempotent.
    ``gated``: once built it waits for its gate (``candidate_built``) instead; activating a
    waiting or gated model without ``gated`` ungates it (the merchant's choice, or the gate's),
    and ``note`` is added to its gate verdict (who activated it)."""
    model = embedding_model_register(name)
    with transaction.atomic():
        model = EmbeddingModel.objects.select_for_update().get(pk=model.pk)
        if model.status == EmbeddingModel.Status.ACTIVE:
            return model
        # A newer request supersedes a build in progress and a candidate waiting for the merchant.
        candidates = [EmbeddingModel.Status.BUILDING, EmbeddingModel.Status.WAITING]
        EmbeddingModel.objects.filter(status__in=candidates).exclude(pk=model.pk).update(
            status=EmbeddingModel.Status.RETIRED, retired_at=timezone.now()
        )
        if note:
            model.gate_verdict = f"{model.gate_verdict} {note}".strip()
        model.status, model.gated = EmbeddingModel.Status.BUILDING, gated
        model.retired_at = None
        model.save(update_fields=["status", "retired_at", "gated", "gate_verdict"])
    embeddings_fill_missing(model)
    embedding_model_activation_finish_if_built()
    return model


def embedding_model_bootstrap() -> EmbeddingModel | None:
    """On a new install (no model yet), start building the configured default model."""
    if EmbeddingModel.objects.exists():
        return None
    return embedding_model_activate(search_setting("SEARCH_MODEL"))


def embedding_model_activation_finish_if_built() -> EmbeddingModel | None:
    """If the building model has nothing left to embed, index it and make it active, unless
    too few of its rows are ready (embedding_model_activation_blocked): then the active model
    keeps serving and the admin and ``search_index status`` say why."""
    building = EmbeddingModel.objects.filter(status=EmbeddingModel.Status.BUILDING).first()
    if building is None or _work_left(building):
        return None
    blocked = embedding_model_activation_blocked(building)
    if blocked:
        logger.warning("%s", blocked)
        return None
    hnsw_indexes_create(building)
    with transaction.atomic():
        building = EmbeddingModel.objects.select_for_update().filter(pk=building.pk).first()
        if building is None or building.status != EmbeddingModel.Status.BUILDING or _work_left(building):
            return None
        if building.gated:
            _candidate_wait(building)
            return None
        now = timezone.now()
        EmbeddingModel.objects.filter(status=EmbeddingModel.Status.ACTIVE).update(
            status=EmbeddingModel.Status.RETIRED, retired_at=now
        )
        building.status, building.activated_at = EmbeddingModel.Status.ACTIVE, now
        building.save(update_fields=["status", "activated_at"])
    logger.info("search now uses %s", building)
    _calibration_enqueue(building.pk)
    return building


def _candidate_wait(model: EmbeddingModel) -> None:
    """Inside the caller's transaction: a built gated candidate waits for its gate."""
    model.status = EmbeddingModel.Status.WAITING
    model.gate_verdict = (
        "Built; waiting for the self-test gate (it activates the model only when it beats the active one)."
    )
    model.save(update_fields=["status", "gate_verdict"])
    logger.info("%s is built and waits for its gate", model)
    transaction.on_commit(lambda: candidate_gate_request(model, inline=False))
    # Its self-test searches it: it needs its own no-match threshold too.
    _calibration_enqueue(model.pk)


def candidate_gate_request(model: EmbeddingModel, *, inline: bool) -> None:
    """Ask the gate's listeners to judge a waiting candidate (idempotent on their side)."""
    for receiver, response in candidate_built.send_robust(sender=EmbeddingModel, model=model, inline=inline):
        if isinstance(response, Exception):
            logger.error("the gate %s failed on %s: %s", receiver, model, response)


def _calibration_enqueue(model_id: int) -> None:
    # A new model has no "no close match" threshold until it is calibrated (nothing is flagged).
    from search.tasks import no_match_calibrate_enqueue  # tasks import this module

    no_match_calibrate_enqueue(model_id)


def _work_left(model: EmbeddingModel) -> bool:
    open_statuses = [EmbeddingStatus.PENDING, EmbeddingStatus.PROCESSING]
    return any(KINDS[kind].objects.filter(model=model, status__in=open_statuses).exists() for kind in KINDS)


def embedding_model_reindex() -> EmbeddingModel:
    """Rebuild the active model's HNSW indexes with the current settings (after changing
    SNAPSHELF_INDEX_PRECISION, SNAPSHELF_HNSW_M or SNAPSHELF_HNSW_EF_CONSTRUCTION); the old indexes
    serve searches until the new ones are built."""
    model = embedding_model_active()
    if model is None:
        raise ModelSwitchError("There is no active model to reindex.")
    hnsw_indexes_rebuild(model)
    logger.info("rebuilt the HNSW indexes of %s (%s)", model, model.index_precision)
    return model


def embedding_model_prune() -> list[EmbeddingModel]:
    """Delete the vectors and indexes of retired models (their rows stay, as history)."""
    retired = list(EmbeddingModel.objects.filter(status=EmbeddingModel.Status.RETIRED))
    for model in retired:
        hnsw_indexes_drop(model)
        ImageEmbedding.objects.filter(model=model).delete()
        ProductEmbedding.objects.filter(model=model).delete()
    return retired
