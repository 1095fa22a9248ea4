"""Tuning the model to the shop: an adapter learned from the shop's own photos, built as a candidate.

``model_tune()`` reads the base model's stored image vectors of every product with two or more
photos (catalog photos and search-only shop photos; clicked photo-search results when a listener
of ``tuning_photos_collect`` adds them, e.g. the insights app when the merchant opts in), learns a
low-rank adapter (search.tuning), keeps its weights in the database (``ModelAdapter``) and starts
building the tuned model, ``<base>+tuned-<n>``, through the model switch as a *gated* candidate:
its vectors come from the base model's without a forward pass (index_queue._derive_from_base),
and once built it replaces the active model only when its gate (the insights app's self-test
comparison) says it is better; otherwise it waits for the merchant.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from django.db.models import Count, QuerySet
from django.dispatch import Signal

from search.embedders.adapter import AdaptedEmbedder, LowRankAdapter
from search.embedders.base import EmbedderLoadError
from search.models import TUNED_SEPARATOR, EmbeddingModel, EmbeddingStatus, ImageEmbedding, ModelAdapter
from search.services.model_switch import embedding_model_activate, embedding_model_active
from search.tuning import TrainingPhotos, TuneError, TuneOptions, adapter_train
from search.vector_store import image_vectors_of_products

logger = logging.getLogger(__name__)

# Sent with ``model=EmbeddingModel`` (the base); listeners may return more TrainingPhotos (vectors
# of that model): the insights app returns clicked photo-search results when the merchant opts in.
tuning_photos_collect = Signal()

# Fewer products with a pair than this: nothing worth learning (adapter_train needs 2 at least).
MIN_PRODUCTS = 2

__all__ = ["TuneError", "TuneOptions", "model_tune", "training_photos", "tuned_embedder_build", "tuning_blocked"]


def model_tune(*, base: EmbeddingModel | None = None, options: TuneOptions | None = None) -> ModelAdapter:
    """Learn an adapter over ``base`` (default: the active model) and start building the tuned
    model as a gated candidate; returns the adapter (``adapter.model_name`` names the model)."""
    base = base or embedding_model_active()
    if base is None:
        raise TuneError("There is no active model to tune: import products and let the index build first.")
    if base.status == EmbeddingModel.Status.RETIRED:
        raise TuneError(f"{base.name} is retired; tune the active model.")
    options = options or TuneOptions()
    photos, clicked = training_photos(base)
    adapter, report = adapter_train(photos, options)
    row = ModelAdapter.objects.create(
        base=base,
        base_name=base.name,
        weights=adapter.to_bytes(),
        digest=adapter.digest(),
        dim=adapter.dim,
        rank=adapter.rank,
        training={**dataclasses.asdict(report), "clicked_photos": clicked, "options": dataclasses.asdict(options)},
    )
    logger.info("tuned %s: %s", row.model_name, row.training)
    embedding_model_activate(row.model_name, gated=True)
    return row


def tuning_blocked(base: EmbeddingModel) -> str:
    """Why ``base`` cannot be tuned from its stored photos ("" when it can): a quick count for
    the admin before it queues the work (clicked photos are not counted here)."""
    products = _paired_products(base).count()
    if products >= MIN_PRODUCTS:
        return ""
    return (
        f"Tuning needs at least {MIN_PRODUCTS} products with two or more indexed photos; {products} have them. "
        "Add shop photos (search-only images: photos of a product taken as shoppers take them) and let them index."
    )


def _paired_products(base: EmbeddingModel) -> QuerySet[ImageEmbedding, int]:
    return (
        ImageEmbedding.objects.filter(model=base, status=EmbeddingStatus.READY, product__is_active=True)
        .values("product_id")
        .annotate(photos=Count("id"))
        .filter(photos__gte=2)
        .values_list("product_id", flat=True)
    )


def training_photos(base: EmbeddingModel) -> tuple[TrainingPhotos, int]:
    """The base model's vectors of every active product with two or more indexed photos, plus
    what listeners add (clicked query photos); and how many of them were clicked photos."""
    extras: list[TrainingPhotos] = []
    for _, extra in tuning_photos_collect.send(sender=EmbeddingModel, model=base):
        if isinstance(extra, TrainingPhotos) and len(extra.vectors):
            extras.append(extra)
    # Products with two stored photos, and those with one and photos from the listeners.
    products = set(_paired_products(base)) | {int(p) for extra in extras for p in extra.products}
    stored = image_vectors_of_products(base, sorted(products))
    parts: list[TrainingPhotos] = [
        TrainingPhotos(stored.vectors, np.array(stored.product_ids, dtype=np.int64), np.array(stored.search_only)),
        *extras,
    ]
    clicked = int(sum(len(part.vectors) for part in extras))
    return (
        TrainingPhotos(
            vectors=np.concatenate([part.vectors for part in parts]).astype(np.float32),
            products=np.concatenate([part.products for part in parts]).astype(np.int64),
            shop=np.concatenate([part.shop for part in parts]).astype(bool),
        ),
        clicked,
    )


def tuned_embedder_build(name: str) -> AdaptedEmbedder:
    """The embedder of a tuned model: its base model's, through the adapter kept in the database
    (called by search.embedders.registry for names with TUNED_SEPARATOR)."""
    from search.embedders.registry import embedder_get

    base_name, _, key = name.rpartition(TUNED_SEPARATOR)
    row = ModelAdapter.objects.filter(pk=int(key)).first() if key.isdigit() else None
    if row is None or row.base_name != base_name:
        raise EmbedderLoadError(
            f"No tuned model {name!r}: its adapter is not in the database. Tune again "
            "(manage.py search_model tune) or activate a configured model."
        )
    try:
        adapter = LowRankAdapter.from_bytes(bytes(row.weights))
    except (ValueError, OSError, KeyError) as exc:
        raise EmbedderLoadError(f"The adapter of {name!r} cannot be read ({exc}); tune again.") from exc
    return AdaptedEmbedder(base=embedder_get(base_name), adapter=adapter)
